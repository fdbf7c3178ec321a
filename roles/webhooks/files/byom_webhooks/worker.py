"""Workers: deliver queued events downstream, at least once, with an idempotency key.

Each worker thread owns the processing list ``processing:<name>:<n>``. An item stays there while
it is being delivered; if the process dies mid-delivery, the next start moves it back to the
ready list (recover), so nothing is lost and the downstream may see it twice: the
``Idempotency-Key`` header (the same on every attempt) lets it keep exactly one.
"""

import json
import logging
import threading
import time
import urllib.error
import urllib.request

from . import auth as authmod
from . import core
from .store import Store

log = logging.getLogger("byom_webhooks.worker")


class Delivery(object):
    """Outcome of one attempt: ok, retryable, status, retry_after (s) and a short error text."""

    def __init__(self, ok, retryable, status=None, retry_after=None, error=""):
        self.ok, self.retryable, self.status, self.retry_after, self.error = ok, retryable, status, retry_after, error


def deliver(cfg, item):
    dcfg = cfg["downstream"]
    body = item["body"].encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": item["key"],
        "X-Byom-Event-Type": item["type"],
        "X-Byom-Attempt": str(item["attempt"] + 1),
    }
    headers.update(dcfg["headers"])
    if dcfg["hmac_secret"]:
        ts = str(int(time.time()))
        plan = dict(cfg["auth"], secret=dcfg["hmac_secret"], secret_is_base64=False, algorithm="sha256",
                    signature_encoding="hex", signature_prefix="", payload_format="{timestamp}.{body}",
                    include_timestamp=True)
        headers["x-signature"] = authmod.sign(plan, body, ts)
        headers["x-timestamp"] = ts
    req = urllib.request.Request(item["url"], data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=dcfg["timeout_s"]) as resp:
            resp.read(65536)
            return Delivery(True, False, resp.status)
    except urllib.error.HTTPError as exc:
        retry_after = None
        try:
            retry_after = float(exc.headers.get("Retry-After", ""))
        except (TypeError, ValueError):
            pass
        retryable = exc.code not in dcfg["non_retryable_statuses"]
        return Delivery(False, retryable, exc.code, retry_after, "HTTP %d" % exc.code)
    except Exception as exc:  # noqa: BLE001 - network errors and timeouts are retried
        return Delivery(False, True, None, None, type(exc).__name__)


class WorkerPool(object):
    def __init__(self, cfg, store=None):
        self.cfg = cfg
        self.store = store if store is not None else Store(cfg)
        self.stop = threading.Event()
        self.threads = []

    def handle(self, wid, raw):
        dcfg = self.cfg["downstream"]
        item = json.loads(raw)
        result = deliver(self.cfg, item)
        if result.ok:
            self.store.done(wid, raw)
            log.info("delivered key=%s type=%s attempt=%d", item["key"], item["type"], item["attempt"] + 1)
            return "delivered"
        item["attempt"] += 1
        item["last_error"] = result.error
        if not result.retryable or item["attempt"] >= dcfg["max_attempts"]:
            self.store.bury(wid, raw, item)
            log.warning("dead-lettered key=%s type=%s attempts=%d error=%s", item["key"], item["type"],
                        item["attempt"], result.error)
            return "dead"
        delay = core.backoff_delay(item["attempt"], dcfg["base_delay_s"], dcfg["max_delay_s"])
        if result.retry_after:
            delay = min(dcfg["max_delay_s"], max(delay, result.retry_after))
        self.store.retry_later(wid, raw, item, time.time() + delay)
        log.info("retry key=%s attempt=%d in %.2fs error=%s", item["key"], item["attempt"], delay, result.error)
        return "retry"

    def _loop(self, wid, index):
        while not self.stop.is_set():
            try:
                if index == 0:
                    self.store.promote_due()
                raw = self.store.take(wid, timeout=1)
                if raw is None:
                    continue
                self.handle(wid, raw)
            except Exception as exc:  # noqa: BLE001 - Redis restarts: wait and go on
                log.error("worker %s: %s; retrying in 1 s", wid, type(exc).__name__)
                self.stop.wait(1.0)

    def start(self):
        name = self.cfg["worker"]["name"]
        moved = None
        while moved is None and not self.stop.is_set():
            try:
                moved = self.store.recover(name)
            except Exception as exc:  # noqa: BLE001 - Redis not up yet: wait for it
                log.error("cannot reach Redis to recover in-flight items: %s; retrying in 1 s", type(exc).__name__)
                self.stop.wait(1.0)
        if moved:
            log.warning("requeued %d in-flight item(s) left by a previous run", moved)
        for i in range(self.cfg["worker"]["concurrency"]):
            wid = "%s:%d" % (name, i)
            thread = threading.Thread(target=self._loop, args=(wid, i), name="worker-%d" % i, daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self, timeout=None):
        for thread in self.threads:
            thread.join(timeout)
