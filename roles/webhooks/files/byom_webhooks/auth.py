"""Request authentication as Vapi's Custom Credentials sign them.

HMAC (HMACAuthenticationPlan): signature of payloadFormat (default ``{timestamp}.{body}``) with
the shared secret, hex by default, in ``x-signature``; the timestamp in ``x-timestamp``. Vapi does
not document the timestamp's unit, so seconds and milliseconds are both accepted and bounded by
the same window. Bearer (BearerAuthenticationPlan): a shared secret in ``Authorization: Bearer``
(or the legacy ``X-Vapi-Secret`` header without prefix). Every compare is constant time.
"""

import base64
import hashlib
import hmac
import time

_ALGOS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512, "sha1": hashlib.sha1}


class AuthFailure(Exception):
    """Authentication failed; `reason` is a short metric label."""

    def __init__(self, reason):
        Exception.__init__(self, reason)
        self.reason = reason


def _key(auth):
    secret = auth["secret"]
    return base64.b64decode(secret) if auth.get("secret_is_base64") else secret.encode("utf-8")


def sign(auth, body, timestamp, method="POST", url="", message_id=""):
    """The signature Vapi sends for `body` (bytes) at `timestamp` (string)."""
    payload = auth["payload_format"]
    if not auth.get("include_timestamp", True):
        payload = payload.replace("{timestamp}.", "")
    # {body} last: the body itself may contain the other placeholders.
    head, dummy, tail = payload.partition("{body}")
    subst = {"{timestamp}": timestamp, "{method}": method, "{url}": url, "{svix-id}": message_id}
    for name, value in subst.items():
        head = head.replace(name, value)
        tail = tail.replace(name, value)
    message = head.encode("utf-8") + body + tail.encode("utf-8")
    digest = hmac.new(_key(auth), message, _ALGOS[auth["algorithm"]]).digest()
    text = base64.b64encode(digest).decode() if auth["signature_encoding"] == "base64" else digest.hex()
    return auth.get("signature_prefix", "") + text


def _timestamp_seconds(raw):
    value = float(raw)
    # Vapi does not document the unit: anything past year 2286 in seconds is milliseconds.
    return value / 1000.0 if value > 1e10 else value


def verify(auth, headers, body, method="POST", url="", now=None):
    """Check one request. `headers` maps lower-case names to values.

    Returns a replay token (the signature) for HMAC, None otherwise; raises AuthFailure.
    """
    kind = auth["type"]
    if kind == "none":
        return None
    if kind == "bearer":
        value = headers.get(auth["header_name"].lower(), "")
        if not value:
            raise AuthFailure("missing")
        if auth["bearer_prefix"]:
            if not value[:7].lower() == "bearer ":
                raise AuthFailure("bad_format")
            value = value[7:].strip()
        if not hmac.compare_digest(value.encode("utf-8"), auth["secret"].encode("utf-8")):
            raise AuthFailure("bad_secret")
        return None
    signature = headers.get(auth["signature_header"].lower(), "")
    if not signature:
        raise AuthFailure("missing")
    timestamp = headers.get(auth["timestamp_header"].lower(), "")
    if auth.get("include_timestamp", True) or "{timestamp}" in auth["payload_format"]:
        if not timestamp:
            raise AuthFailure("missing_timestamp")
        try:
            age = abs((time.time() if now is None else now) - _timestamp_seconds(timestamp))
        except ValueError:
            raise AuthFailure("bad_timestamp")
        if age > auth["timestamp_tolerance_s"]:
            raise AuthFailure("stale_timestamp")
    message_id = headers.get(auth["message_id_header"].lower(), "") if auth.get("message_id_header") else ""
    expected = sign(auth, body, timestamp, method, url, message_id)
    if not hmac.compare_digest(signature.strip().encode("utf-8"), expected.encode("utf-8")):
        raise AuthFailure("bad_signature")
    return signature.strip()
