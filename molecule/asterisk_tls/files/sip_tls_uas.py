"""Minimal SIP-over-TLS user agent server (stdlib only) playing Vapi for the asterisk_tls scenario.

Listens on --ip:--port with the lab server certificate, answers one INVITE with 200 OK and an
SDES answer (RTP/SAVP + a=crypto, first suite and codec of the offer), counts what arrives on
its media port, answers ACK/BYE/OPTIONS, and stops after the BYE or at the deadline.
Lab use only (loopback). Prints one JSON object on stdout.
"""
import argparse
import base64
import json
import os
import re
import selectors
import socket
import ssl
import sys
import time
import uuid

from sip_uac import Message

REPLY_HEADERS = ("via", "from", "to", "call-id", "cseq")


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def messages(self):
        """Complete messages in the buffer (a TLS record may hold several or part of one)."""
        found = []
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return found
            head = self.buf[:end].decode(errors="replace")
            match = re.search(r"^(?:Content-Length|l)\s*:\s*(\d+)", head, re.M | re.I)
            length = int(match.group(1)) if match else 0
            if len(self.buf) < end + 4 + length:
                return found
            found.append(Message(head, self.buf[end + 4:end + 4 + length].decode(errors="replace")))
            self.buf = self.buf[end + 4 + length:]

    def reply(self, request, code, reason, to_tag="", extra=(), body=""):
        lines = [f"SIP/2.0 {code} {reason}"]
        for name, value in request.headers:
            if name in REPLY_HEADERS:
                if name == "to" and to_tag and "tag=" not in value:
                    value += f";tag={to_tag}"
                lines.append(f"{name.title()}: {value}")
        lines += list(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        body = body.replace("\n", "\r\n")
        lines.append(f"Content-Length: {len(body.encode())}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n" + body).encode())


def sdp_answer(offer, ip, media_port):
    """RTP/SAVP answer: the offer's first G.711 payload type and first crypto suite, our own key."""
    media = re.search(r"^m=audio \d+ (\S+) ([\d ]+)", offer, re.M)
    codec = next((pt for pt in media.group(2).split() if pt in ("0", "8")), "0") if media else "0"
    suite = re.search(r"^a=crypto:\d+ (\S+) ", offer, re.M)
    key = base64.b64encode(os.urandom(30)).decode()
    lines = [
        "v=0", f"o=- {int(time.time())} 1 IN IP4 {ip}", "s=-", f"c=IN IP4 {ip}", "t=0 0",
        f"m=audio {media_port} RTP/SAVP {codec}",
        f"a=rtpmap:{codec} {'PCMU' if codec == '0' else 'PCMA'}/8000",
        f"a=crypto:1 {suite.group(1) if suite else 'AES_CM_128_HMAC_SHA1_80'} inline:{key}",
        "a=sendrecv",
    ]
    return "\n".join(lines) + "\n"


def serve(args, result):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    listener = socket.create_server((args.ip, args.port))
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind((args.ip, 0))
    media.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listener")
    selector.register(media, selectors.EVENT_READ, "media")
    sizes, deadline, to_tag = {}, time.monotonic() + args.timeout, uuid.uuid4().hex[:10]
    result.update(requests=[], media={"packets": 0, "sizes": sizes})
    print("listening", file=sys.stderr, flush=True)
    try:
        while time.monotonic() < deadline and "BYE" not in result["requests"]:
            for key, _mask in selector.select(timeout=max(0.05, deadline - time.monotonic())):
                if key.data == "listener":
                    raw, _peer = listener.accept()
                    raw.settimeout(5)
                    tls = context.wrap_socket(raw, server_side=True)
                    result["tls_version"] = tls.version()
                    tls.setblocking(False)
                    selector.register(tls, selectors.EVENT_READ, Connection(tls))
                elif key.data == "media":
                    data = media.recv(4096)
                    sizes[str(len(data))] = sizes.get(str(len(data)), 0) + 1
                    result["media"]["packets"] += 1
                else:
                    handle(key, selector, result, args, media, to_tag)
    finally:
        selector.close()
        listener.close()
        media.close()


def handle(key, selector, result, args, media, to_tag):
    conn = key.data
    try:
        data = conn.sock.recv(65536)
        while conn.sock.pending():
            data += conn.sock.recv(65536)
    except ssl.SSLWantReadError:
        return
    if not data:
        selector.unregister(conn.sock)
        conn.sock.close()
        return
    conn.buf += data
    for message in conn.messages():
        if message.code is not None:
            continue
        method = message.first.split()[0]
        result["requests"].append(method)
        if method == "INVITE":
            result["invite_uri"] = message.first.split()[1]
            result["offer_sdp"] = message.body
            # A sips: Request-URI needs a sips: Contact, or PJSIP ends the dialog ("SIPS Required").
            scheme = "sips" if result["invite_uri"].startswith("sips:") else "sip"
            contact = f"Contact: <{scheme}:vapi@{args.ip}:{args.port};transport=tls>"
            conn.reply(message, 200, "OK", to_tag, [contact], sdp_answer(message.body, args.ip, media.getsockname()[1]))
        elif method != "ACK":
            conn.reply(message, 200, "OK", to_tag)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ip", default="127.0.0.2")
    parser.add_argument("--port", type=int, default=5071)
    parser.add_argument("--cert", default="/etc/byom-lab-tls/server.crt")
    parser.add_argument("--key", default="/etc/byom-lab-tls/server.key")
    parser.add_argument("--timeout", type=float, default=20.0, help="stop after this many seconds")
    args = parser.parse_args()
    result = {}
    try:
        serve(args, result)
    except (OSError, ssl.SSLError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
