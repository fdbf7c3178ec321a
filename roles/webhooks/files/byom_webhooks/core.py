"""Pure logic shared by the receiver, the worker and the CLI (no I/O)."""

import hashlib
import json
import random
import re

from .config import KNOWN_TYPES, SYNC_TYPES


class BadRequest(Exception):
    """The request cannot be accepted; `status` and `reason` go to the client and the metrics."""

    def __init__(self, status, reason, detail):
        Exception.__init__(self, detail)
        self.status = status
        self.reason = reason
        self.detail = detail


def parse(body, accept_unknown_types=False):
    """Parse a Vapi server message envelope ``{"message": {"type": ...}}``; returns the message."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(400, "malformed_json", "body is not valid JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("message"), dict):
        raise BadRequest(400, "no_message", "body must be an object with a 'message' object")
    kind = doc["message"].get("type")
    if not isinstance(kind, str) or not kind:
        raise BadRequest(400, "no_type", "message.type is missing")
    if kind not in KNOWN_TYPES and not accept_unknown_types:
        raise BadRequest(422, "unknown_type", "unknown message type %r" % kind[:64])
    return doc["message"]


def lane(message):
    """'sync' when Vapi waits for an answer in the response, else 'async'."""
    kind = message.get("type")
    if kind not in SYNC_TYPES:
        return "async"
    if kind == "tool-calls":
        tools = message.get("toolWithToolCallList") or []
        # Async tools: "the assistant will move forward without waiting for your server".
        if tools and all(isinstance(t, dict) and t.get("async") is True for t in tools):
            return "async"
    return "sync"


def event_key(body, message_id=""):
    """Idempotency key: the sender's message id when it sends one, else a hash of the body.

    Vapi's retries (server.backoffPlan) resend the same body, so they map to the same key.
    """
    if message_id:
        return "m-" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:40]
    return "b-" + hashlib.sha256(body).hexdigest()[:40]


def backoff_delay(attempt, base, cap, rng=random.random):
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]."""
    ceiling = min(cap, base * (2 ** max(0, min(attempt - 1, 60))))
    return rng() * ceiling


_LABEL_RE = re.compile(r"[^A-Za-z0-9_.:\-]")


def label(value, limit=160):
    """A metric label value: bounded length, no quotes or newlines."""
    return _LABEL_RE.sub("_", str(value))[:limit] or "unknown"


# Keys whose values are personal data in Vapi payloads (transcripts, messages, numbers,
# recordings, secrets that Twilio-imported numbers carry).
PII_KEYS = frozenset((
    "transcript", "messages", "messagesOpenAIFormatted", "artifact", "summary", "analysis",
    "number", "customer", "recordingUrl", "stereoRecordingUrl", "recording", "twilioAuthToken",
    "twilioApiSecret", "authPassword", "secret", "input", "output", "text", "arguments",
    "parameters", "variableValues", "sipUri", "email", "name", "structuredData",
))
_PHONE_RE = re.compile(r"\+?\d[\d \-().]{6,}\d")


def redact(value, key=None):
    """A copy of `value` safe for logs: PII keys masked, phone-number-like strings masked."""
    if key in PII_KEYS and value not in (None, "", [], {}):
        return "[redacted]"
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value[:20]]
    if isinstance(value, str):
        return _PHONE_RE.sub("[number]", value)[:200]
    return value


def summary(message):
    """What a log line or the DLQ listing may show about a message."""
    call = message.get("call") if isinstance(message.get("call"), dict) else {}
    out = {"type": message.get("type"), "call_id": call.get("id"), "timestamp": message.get("timestamp")}
    if message.get("type") == "status-update":
        out["status"] = message.get("status")
    if message.get("type") == "end-of-call-report":
        out["endedReason"] = message.get("endedReason")
    return out


def _lookup(message, dotted):
    node = message
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def tool_calls(message):
    """[(toolCallId, function name, arguments)] of a tool-calls message."""
    calls = message.get("toolCallList")
    if not calls:
        calls = [t.get("toolCall") for t in message.get("toolWithToolCallList") or [] if isinstance(t, dict)]
    out = []
    for call in calls or []:
        if isinstance(call, dict):
            func = call.get("function") if isinstance(call.get("function"), dict) else {}
            out.append((call.get("id"), func.get("name"), func.get("arguments")))
    return out


def answer_from_rules(message, rules):
    """The answer the user's static rules give, or None when they do not cover the message.

    tool-calls: answered only when every call has a rule (a partial answer would mislead the model).
    """
    kind = message.get("type")
    if kind == "tool-calls":
        results = []
        for call_id, name, _args in tool_calls(message):
            rule = next((r for r in rules if r["type"] == kind and r["function"] == name
                         and _matches(message, r.get("match", {}))), None)
            if rule is None:
                return None
            results.append({"toolCallId": call_id, "result": rule["result"]})
        return {"results": results} if results else None
    for rule in rules:
        if rule["type"] == kind and _matches(message, rule.get("match", {})):
            return rule["response"]
    return None


def _matches(message, match):
    return all(_lookup(message, k) == v for k, v in match.items())


def fallback_answer(message, sync_cfg):
    """Safe answer when neither the rules nor the backend answered in time."""
    kind = message.get("type")
    configured = sync_cfg["fallbacks"].get(kind)
    if kind == "tool-calls":
        text = configured.get("result") if isinstance(configured, dict) and "result" in configured else sync_cfg["tool_fallback_result"]
        return {"results": [{"toolCallId": cid, "result": text} for cid, _n, _a in tool_calls(message)]}
    if configured is not None:
        return configured
    if kind == "assistant-request":
        # Vapi speaks `error` and ends the call; the phone number's fallbackDestination is the
        # better safety net, hence the role's advice to set it.
        return {"error": "No assistant is available right now."}
    if kind == "knowledge-base-request":
        return {"documents": []}
    return {"error": "No destination is available right now."}
