"""Configuration: one JSON file written by the role (mode 0640, it holds secrets)."""

import copy
import json

# Message types that expect an answer in the HTTP response (Vapi docs, fern/server-url/events.mdx
# and the openapi ServerMessageResponse* schemas). tool-calls is sync unless every tool is async.
SYNC_TYPES = (
    "assistant-request",
    "tool-calls",
    "transfer-destination-request",
    "knowledge-base-request",
    "handoff-destination-request",
)

# Every ServerMessage* `type` enum in Vapi's openapi.json (fern/apis/api/openapi.json, 2026-08-18).
KNOWN_TYPES = frozenset(SYNC_TYPES + (
    "conversation-update", "end-of-call-report", "hang", "model-output", "phone-call-control",
    "speech-update", "status-update", "transfer-update", "transcript",
    'transcript[transcriptType="final"]', "user-interrupted", "language-change-detected",
    "language-changed", "voice-input", "assistant.speechStarted", "assistant.started",
    "voice-request", "call.endpointing.request", "chat.created", "chat.deleted",
    "session.created", "session.updated", "session.deleted", "call.deleted",
    "call.delete.failed", "call.artifact.upload", "campaign.predial", "function-call",
))

DEFAULTS = {
    "listen_host": "127.0.0.1",
    "listen_port": 8091,
    "path": "/vapi/webhook",
    "max_body_bytes": 1048576,
    "accept_unknown_types": False,
    "auth": {
        "type": "hmac",
        "secret": "",
        "secret_is_base64": False,
        "algorithm": "sha256",
        "signature_header": "x-signature",
        "timestamp_header": "x-timestamp",
        "signature_prefix": "",
        "signature_encoding": "hex",
        "payload_format": "{timestamp}.{body}",
        "include_timestamp": True,
        "timestamp_tolerance_s": 300,
        "replay_protection": True,
        "header_name": "Authorization",
        "bearer_prefix": True,
        "message_id_header": "",
    },
    "redis": {
        "host": "127.0.0.1",
        "port": 6379,
        "password": "",
        "db": 0,
        "prefix": "byom:wh:",
        "socket_timeout_s": 2.0,
    },
    "dedupe_ttl_s": 86400,
    "sync": {
        "deadline_s": 3.0,
        "backend_url": "",
        "backend_headers": {},
        "rules": [],
        "fallbacks": {},
        "tool_fallback_result": "The service is busy right now, please try again later.",
    },
    "downstream": {
        "urls": [],
        "headers": {},
        "timeout_s": 10.0,
        "max_attempts": 8,
        "base_delay_s": 1.0,
        "max_delay_s": 300.0,
        "non_retryable_statuses": [400, 401, 403, 404, 410, 413, 422],
        "hmac_secret": "",
    },
    "worker": {
        "name": "w",
        "concurrency": 4,
    },
    "log_level": "INFO",
}

AUTH_TYPES = ("hmac", "bearer", "none")


class ConfigError(ValueError):
    """A configuration value is wrong: the message names the field."""


def _merge(base, override, path=""):
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if key not in base:
            raise ConfigError("unknown setting %s%s" % (path, key))
        if isinstance(base[key], dict) and base[key] and not isinstance(value, dict):
            raise ConfigError("%s%s must be an object" % (path, key))
        if isinstance(base[key], dict) and base[key]:
            out[key] = _merge(base[key], value, "%s%s." % (path, key))
        else:
            out[key] = value
    return out


def _number(cfg, dotted, low, high):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)) or not low <= node <= high:
        raise ConfigError("%s must be a number between %s and %s, got %r" % (dotted, low, high, node))


def validate(raw):
    """Merge `raw` over the defaults and check it; returns the full configuration."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a JSON object")
    cfg = _merge(DEFAULTS, raw)
    auth = cfg["auth"]
    if auth["type"] not in AUTH_TYPES:
        raise ConfigError("auth.type must be one of %s, got %r" % (", ".join(AUTH_TYPES), auth["type"]))
    if auth["type"] != "none" and not auth["secret"]:
        raise ConfigError("auth.secret is required when auth.type is %s" % auth["type"])
    if auth["algorithm"] not in ("sha256", "sha512", "sha1"):
        raise ConfigError("auth.algorithm must be sha256, sha512 or sha1, got %r" % auth["algorithm"])
    if auth["signature_encoding"] not in ("hex", "base64"):
        raise ConfigError("auth.signature_encoding must be hex or base64")
    if "{body}" not in auth["payload_format"]:
        raise ConfigError("auth.payload_format must contain {body}")
    _number(cfg, "auth.timestamp_tolerance_s", 1, 3600)
    _number(cfg, "listen_port", 1, 65535)
    _number(cfg, "max_body_bytes", 1024, 64 * 1048576)
    _number(cfg, "dedupe_ttl_s", 60, 30 * 86400)
    # Vapi gives assistant-request 7.5 s end to end, network included.
    _number(cfg, "sync.deadline_s", 0.05, 6.0)
    _number(cfg, "downstream.timeout_s", 0.1, 300)
    _number(cfg, "downstream.max_attempts", 1, 100)
    _number(cfg, "downstream.base_delay_s", 0.001, 3600)
    _number(cfg, "downstream.max_delay_s", 0.001, 86400)
    _number(cfg, "worker.concurrency", 1, 64)
    if not cfg["path"].startswith("/"):
        raise ConfigError("path must start with /, got %r" % cfg["path"])
    urls = cfg["downstream"]["urls"]
    if not isinstance(urls, list) or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
        raise ConfigError("downstream.urls must be a list of http(s) URLs")
    backend = cfg["sync"]["backend_url"]
    if backend and not backend.startswith(("http://", "https://")):
        raise ConfigError("sync.backend_url must be an http(s) URL, got %r" % backend)
    if not isinstance(cfg["sync"]["rules"], list):
        raise ConfigError("sync.rules must be a list")
    for i, rule in enumerate(cfg["sync"]["rules"]):
        if not isinstance(rule, dict) or rule.get("type") not in SYNC_TYPES:
            raise ConfigError("sync.rules[%d].type must be one of %s" % (i, ", ".join(SYNC_TYPES)))
        if rule["type"] == "tool-calls":
            if "function" not in rule or "result" not in rule:
                raise ConfigError("sync.rules[%d] (tool-calls) needs function and result" % i)
        elif not isinstance(rule.get("response"), dict):
            raise ConfigError("sync.rules[%d].response must be an object" % i)
        if not isinstance(rule.get("match", {}), dict):
            raise ConfigError("sync.rules[%d].match must be an object" % i)
    for key in cfg["sync"]["fallbacks"]:
        if key not in SYNC_TYPES:
            raise ConfigError("sync.fallbacks.%s: not a synchronous message type" % key)
    return cfg


def load(path):
    with open(path, encoding="utf-8") as handle:
        try:
            raw = json.load(handle)
        except ValueError as exc:
            raise ConfigError("%s is not valid JSON: %s" % (path, exc))
    return validate(raw)
