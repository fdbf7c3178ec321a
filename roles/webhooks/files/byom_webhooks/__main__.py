"""Command line: ``python3 -m byom_webhooks --config FILE COMMAND``.

serve            run the receiver
worker           run the delivery workers
dlq list         dead letters, redacted (key, type, attempts, last error, call id)
dlq replay [KEY] move dead letters (all, or one idempotency key) back to the queue
stats            queue depths and worker counters as JSON
check-config     validate the configuration file and exit
"""

import argparse
import json
import logging
import signal
import sys

from . import config as configmod


def _logging(level):
    logging.basicConfig(level=getattr(logging, str(level).upper(), logging.INFO), stream=sys.stderr,
                        format="%(levelname)s %(name)s %(message)s")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="byom-webhooks", description="Vapi webhook receiver")
    parser.add_argument("--config", default="/etc/byom-webhooks/config.json")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve")
    sub.add_parser("worker")
    sub.add_parser("stats")
    sub.add_parser("check-config")
    dlq = sub.add_parser("dlq")
    dlq_sub = dlq.add_subparsers(dest="action", required=True)
    lst = dlq_sub.add_parser("list")
    lst.add_argument("--limit", type=int, default=100)
    rep = dlq_sub.add_parser("replay")
    rep.add_argument("key", nargs="?", help="idempotency key; all dead letters when omitted")
    args = parser.parse_args(argv)

    try:
        cfg = configmod.load(args.config)
    except (OSError, configmod.ConfigError) as exc:
        print("byom-webhooks: configuration error: %s" % exc, file=sys.stderr)
        return 2
    _logging(cfg["log_level"])
    if args.command == "check-config":
        print("configuration ok")
        return 0

    def _term(_signum, _frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, _term)

    if args.command == "serve":
        from .server import serve
        serve(cfg)
        return 0
    from .store import Store
    store = Store(cfg)
    if args.command == "worker":
        from .worker import WorkerPool
        pool = WorkerPool(cfg, store)
        pool.start()
        try:
            while True:
                pool.join(3600)
        finally:
            pool.stop.set()
    if args.command == "stats":
        print(json.dumps({"queues": store.depths(), "counters": store.stats()}, sort_keys=True))
        return 0
    from . import core
    if args.action == "list":
        rows = []
        for item in store.dead_letters(args.limit):
            try:
                message = json.loads(item["body"]).get("message", {})
            except ValueError:
                message = {}
            rows.append({"key": item["key"], "type": item["type"], "attempts": item["attempt"],
                         "last_error": item.get("last_error", ""), "url": item["url"],
                         "summary": core.redact(core.summary(message))})
        print(json.dumps(rows, indent=1, sort_keys=True))
        return 0
    moved = store.replay_dead(args.key)
    print(json.dumps({"replayed": moved}))
    return 0 if moved or args.key is None else 1


if __name__ == "__main__":
    sys.exit(main())
