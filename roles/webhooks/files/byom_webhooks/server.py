"""The receiver: an HTTP server (stdlib, one thread per connection, HTTP/1.1 keep-alive) that
nginx fronts with TLS.

POST <path>   a Vapi server message: authenticated first, then
              sync lane  -> answered from rules / the user's backend within sync.deadline_s,
                            else a safe fallback answer (always HTTP 200, Vapi reads the body)
              async lane -> deduplicated and queued in Redis, 200 in milliseconds
GET /metrics  Prometheus text format (nginx serves it on loopback only)
GET /healthz  200 when Redis answers
"""

import concurrent.futures
import json
import logging
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import auth as authmod
from . import core
from .metrics import Registry
from .store import Store

log = logging.getLogger("byom_webhooks.server")


def make_registry():
    reg = Registry()
    reg.counter("byom_webhooks_messages_total", "Server messages accepted, by type and lane.", ("type", "lane"))
    reg.counter("byom_webhooks_rejected_total", "Requests refused before queueing, by reason.", ("reason",))
    reg.counter("byom_webhooks_signature_failures_total", "Requests failing authentication, by reason.", ("reason",))
    reg.counter("byom_webhooks_duplicates_total", "Events already seen (same idempotency key), not queued again.")
    reg.counter("byom_webhooks_sync_answers_total", "Sync-lane answers, by type and source (rule, backend, fallback).",
                ("type", "source"))
    reg.counter("byom_webhooks_calls_ended_total", "end-of-call-report messages by endedReason.", ("ended_reason",))
    reg.histogram("byom_webhooks_sync_latency_seconds", "Sync-lane time from request read to answer.", ("type",))
    reg.histogram("byom_webhooks_accept_latency_seconds", "Async-lane time from request read to 200.")
    return reg


class App(object):
    """Everything a request needs; shared by the handler threads."""

    def __init__(self, cfg, store=None):
        self.cfg = cfg
        self.store = store if store is not None else Store(cfg)
        self.metrics = make_registry()
        # The sync lane's backend calls run here so the deadline bounds the whole call,
        # connect and read included (urllib's timeout is per socket operation).
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="sync-backend")

    # ------------------------------------------------------------------ sync lane
    def _call_backend(self, body, deadline):
        sync = self.cfg["sync"]
        headers = {"Content-Type": "application/json"}
        headers.update(sync["backend_headers"])
        req = urllib.request.Request(sync["backend_url"], data=body, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=max(0.05, deadline)) as resp:
            if resp.status != 200:
                raise ValueError("backend answered %d" % resp.status)
            answer = json.loads(resp.read(1048576).decode("utf-8"))
        if not isinstance(answer, dict):
            raise ValueError("backend answer is not a JSON object")
        return answer

    def answer_sync(self, message, body, started):
        sync = self.cfg["sync"]
        kind = message["type"]
        answer = core.answer_from_rules(message, sync["rules"])
        source = "rule"
        if answer is None and sync["backend_url"]:
            remaining = sync["deadline_s"] - (time.monotonic() - started)
            future = self.pool.submit(self._call_backend, body, remaining)
            try:
                answer = future.result(timeout=max(0.0, remaining))
                source = "backend"
            except concurrent.futures.TimeoutError:
                future.cancel()
                source = "fallback_timeout"
            except Exception as exc:  # noqa: BLE001 - any backend failure means the fallback
                log.warning("sync backend failed for %s: %s", kind, type(exc).__name__)
                source = "fallback_error"
        if answer is None:
            answer = core.fallback_answer(message, sync)
            if source == "rule":
                source = "fallback_no_rule"
        self.metrics.inc("byom_webhooks_sync_answers_total", (kind, source))
        return answer

    # ------------------------------------------------------------------ metrics
    def render_metrics(self):
        gauges, extra = [], []
        try:
            depths = self.store.depths()
            gauges.append(("byom_webhooks_queue_depth", "Items in the Redis queue, by list.", ("queue",),
                           {(k,): v for k, v in depths.items()}))
            stats = self.store.stats()
            for key, name, text in (
                    ("delivered", "byom_webhooks_deliveries_total", "Deliveries downstream answered 2xx."),
                    ("retries", "byom_webhooks_delivery_retries_total", "Failed deliveries scheduled for a retry."),
                    ("dead_lettered", "byom_webhooks_dead_letters_total", "Events moved to the dead-letter queue."),
                    ("replayed", "byom_webhooks_replayed_total", "Dead letters replayed.")):
                extra.append((name, text, (), {(): stats.get(key, 0)}))
            up = 1
        except Exception:  # noqa: BLE001 - /metrics must answer even when Redis does not
            up = 0
        gauges.append(("byom_webhooks_redis_up", "1 when Redis answered this scrape.", (), {(): up}))
        return self.metrics.render(extra_counters=extra, gauges=gauges)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "byom-webhooks"
    # Headers and body leave in two writes; with Nagle on, the second waits for the client's
    # delayed ACK (40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True
    sys_version = ""

    def log_message(self, fmt, *args):  # the default logs client addresses per request
        pass

    def _send(self, status, doc, content_type="application/json"):
        data = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        app = self.server.app
        if self.path == "/metrics":
            self._send(200, app.render_metrics().encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8")
        elif self.path == "/healthz":
            try:
                app.store.r.ping()
                self._send(200, {"status": "ok"})
            except Exception:  # noqa: BLE001
                self._send(503, {"status": "redis unavailable"})
        else:
            self._send(404, {"error": "not found"})

    def _reject(self, status, reason, detail, counter="byom_webhooks_rejected_total"):
        self.server.app.metrics.inc(counter, (reason,))
        log.info("rejected status=%d reason=%s", status, reason)
        self._send(status, {"error": detail})

    def do_POST(self):
        app = self.server.app
        cfg = app.cfg
        if self.path.split("?", 1)[0] != cfg["path"]:
            self._send(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._reject(411, "no_length", "Content-Length is required")
            return
        if length > cfg["max_body_bytes"] or length < 0:
            # Not read: close the connection instead of draining an oversized body.
            self.close_connection = True
            self._reject(413, "too_large", "body larger than %d bytes" % cfg["max_body_bytes"])
            return
        body = self.rfile.read(length)
        started = time.monotonic()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            token = authmod.verify(cfg["auth"], headers, body, "POST", self.path)
        except authmod.AuthFailure as exc:
            self._reject(401, exc.reason, "unauthorized", "byom_webhooks_signature_failures_total")
            return
        try:
            message = core.parse(body, cfg["accept_unknown_types"])
        except core.BadRequest as exc:
            self._reject(exc.status, exc.reason, exc.detail)
            return
        kind = message["type"]
        lane = core.lane(message)
        msg_id = headers.get(cfg["auth"]["message_id_header"].lower(), "") if cfg["auth"]["message_id_header"] else ""
        if lane == "sync":
            if token and cfg["auth"]["replay_protection"]:
                try:
                    fresh = app.store.check_replay(token)
                except Exception:  # noqa: BLE001 - a sync answer beats a replay check
                    fresh = True
                if not fresh:
                    self._reject(401, "replay", "unauthorized", "byom_webhooks_signature_failures_total")
                    return
            answer = app.answer_sync(message, body, started)
            app.metrics.inc("byom_webhooks_messages_total", (core.label(kind), lane))
            app.metrics.observe("byom_webhooks_sync_latency_seconds", time.monotonic() - started, (core.label(kind),))
            self._send(200, answer)
            return
        key = core.event_key(body, msg_id)
        try:
            outcome = app.store.accept(key, kind, body, token if cfg["auth"]["replay_protection"] else None)
        except Exception as exc:  # noqa: BLE001 - Redis down: tell Vapi to retry (backoffPlan)
            log.error("queue unavailable: %s", type(exc).__name__)
            self._reject(503, "queue_unavailable", "queue unavailable, retry later")
            return
        if outcome == "replay":
            self._reject(401, "replay", "unauthorized", "byom_webhooks_signature_failures_total")
            return
        if outcome == "duplicate":
            app.metrics.inc("byom_webhooks_duplicates_total")
        else:
            app.metrics.inc("byom_webhooks_messages_total", (core.label(kind), lane))
            if kind == "end-of-call-report":
                app.metrics.inc("byom_webhooks_calls_ended_total", (core.label(message.get("endedReason") or "unknown"),))
        app.metrics.observe("byom_webhooks_accept_latency_seconds", time.monotonic() - started)
        log.debug("accepted %s", json.dumps(core.summary(message)))
        self._send(200, {"status": outcome, "idempotencyKey": key})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, cfg, store=None):
        self.app = App(cfg, store)
        ThreadingHTTPServer.__init__(self, (cfg["listen_host"], cfg["listen_port"]), Handler)

    def handle_error(self, request, client_address):
        # A client that hangs up early is routine; the default prints a traceback (and the
        # client's address) to stderr for each one.
        log.info("connection ended early: %s", sys.exc_info()[0].__name__)


def serve(cfg, ready_event=None):
    srv = Server(cfg)
    log.info("listening on %s:%d%s", cfg["listen_host"], srv.server_address[1], cfg["path"])
    if ready_event is not None:
        ready_event.set()
    try:
        srv.serve_forever(poll_interval=0.5)
    finally:
        srv.server_close()
    return srv


def run_in_thread(cfg, store=None):
    """For tests and the benchmark: a server on a background thread; returns (server, thread)."""
    srv = Server(cfg, store)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return srv, thread
