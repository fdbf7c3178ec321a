"""Minimal SIP user agent client over TLS or TCP (stdlib only) for the asterisk_tls scenario.

The Debian SIPp build has no TLS, so this plays Vapi calling in over TLS with an SDES offer:
INVITE -> 401 -> INVITE with an MD5 digest -> final answer; on 200 it ACKs, listens on its
media port for a few seconds (counting what Asterisk sends), sends BYE and waits for 200.
With --method OPTIONS it sends one OPTIONS and reports the answer.

Lab use only: it talks to the loopback addresses given on the command line and stops by itself
(every read has a deadline). The digest password comes from the environment
(BYOM_SIP_PASSWORD), never from the command line. Prints one JSON object on stdout.
"""
import argparse
import base64
import collections
import hashlib
import json
import os
import re
import socket
import ssl
import sys
import time
import uuid


class SipError(Exception):
    pass


class Stream:
    """SIP messages framed by Content-Length over one TCP or TLS connection."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.buf = b""
        self.deadline = deadline

    def send(self, text):
        self.sock.sendall(text.replace("\n", "\r\n").encode())

    def _fill(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SipError("deadline reached while waiting for a SIP message")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout as exc:
            raise SipError("deadline reached while waiting for a SIP message") from exc
        if not data:
            raise SipError("connection closed by the server")
        self.buf += data

    def recv(self):
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end].decode(errors="replace")
                match = re.search(r"^(?:Content-Length|l)\s*:\s*(\d+)", head, re.M | re.I)
                length = int(match.group(1)) if match else 0
                if len(self.buf) >= end + 4 + length:
                    body = self.buf[end + 4:end + 4 + length].decode(errors="replace")
                    self.buf = self.buf[end + 4 + length:]
                    return Message(head, body)
            self._fill()


class Message:
    def __init__(self, head, body):
        lines = head.split("\r\n")
        self.first = lines[0]
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                name, value = self.headers[-1]
                self.headers[-1] = (name, value + " " + line.strip())
            elif ":" in line:
                name, value = line.split(":", 1)
                self.headers.append((name.strip().lower(), value.strip()))
        self.body = body

    @property
    def code(self):
        match = re.match(r"SIP/2\.0 (\d{3})", self.first)
        return int(match.group(1)) if match else None

    def header(self, name):
        return [value for key, value in self.headers if key == name.lower()]


def digest_header(challenge, method, uri, user, password):
    """Authorization value for an MD5 WWW-Authenticate challenge (RFC 2617, qop=auth or none)."""
    params = {key: quoted or bare for key, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', challenge)}
    realm, nonce = params["realm"], params["nonce"]

    def md5(text):
        return hashlib.md5(text.encode()).hexdigest()  # nosec: SIP digest is MD5 by definition

    ha1 = md5(f"{user}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"', "algorithm=MD5"]
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce, count = uuid.uuid4().hex[:16], "00000001"
        response = md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        response = md5(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


def md5_challenge(message):
    """The WWW-Authenticate challenge Asterisk offers for MD5 (it may offer others too)."""
    for value in message.header("www-authenticate"):
        algorithm = re.search(r"algorithm=\"?([\w-]+)", value, re.I)
        if value.lower().startswith("digest") and (not algorithm or algorithm.group(1).upper() == "MD5"):
            return value
    raise SipError(f"no MD5 digest challenge in: {message.header('www-authenticate')}")


def sdp_offer(local_ip, media_port, srtp):
    lines = [
        "v=0",
        f"o=- {int(time.time())} 1 IN IP4 {local_ip}",
        "s=-",
        f"c=IN IP4 {local_ip}",
        "t=0 0",
        f"m=audio {media_port} {'RTP/SAVP' if srtp else 'RTP/AVP'} 8 0 101",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
    ]
    if srtp:
        # 16-byte master key + 14-byte master salt, as SDES (RFC 4568) carries them.
        key = base64.b64encode(os.urandom(30)).decode()
        lines.append(f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}")
    lines.append("a=sendrecv")
    return "\n".join(lines) + "\n"


class Dialog:
    def __init__(self, stream, args, local_port):
        self.stream = stream
        self.args = args
        self.transport = args.transport.upper()
        self.local = f"{args.local_ip}:{local_port}"
        self.call_id = f"{uuid.uuid4().hex}@{args.local_ip}"
        self.from_tag = uuid.uuid4().hex[:10]
        self.to_tag = ""
        self.target = f"sip:{args.to}@{args.server}:{args.port}" if args.to else f"sip:{args.server}:{args.port}"
        self.remote_target = self.target
        self.received = []

    def request(self, method, cseq, uri=None, body="", extra=(), branch=None):
        uri = uri or self.target
        branch = branch or "z9hG4bK" + uuid.uuid4().hex[:16]
        to_uri = self.target.split(";", maxsplit=1)[0]
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/{self.transport} {self.local};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:vapi@{self.args.local_ip}>;tag={self.from_tag}",
            f"To: <{to_uri}>" + (f";tag={self.to_tag}" if self.to_tag else ""),
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method.split()[0]}",
            f"Contact: <sip:vapi@{self.local};transport={self.args.transport}>",
            "User-Agent: byom-lab-uac",
        ]
        lines += list(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.replace(chr(10), chr(13) + chr(10)).encode())}")
        self.stream.send("\n".join(lines) + "\n\n" + body)
        return branch

    def final(self, cseq_method):
        """Read until the final response for cseq_method; answer stray requests (BYE, OPTIONS)."""
        while True:
            message = self.stream.recv()
            if message.code is None:
                self.answer_request(message)
                continue
            self.received.append(message.code)
            if not message.header("cseq") or not message.header("cseq")[0].endswith(cseq_method):
                continue
            if message.code >= 200:
                return message

    def answer_request(self, message):
        self.received.append(message.first.split()[0])
        reply = ["SIP/2.0 200 OK"] + [f"{name.title()}: {value}" for name, value in message.headers
                                      if name in ("via", "from", "to", "call-id", "cseq")]
        self.stream.send("\n".join(reply + ["Content-Length: 0"]) + "\n\n")

    def ack(self, cseq, branch=None, uri=None):
        self.request("ACK", cseq, uri=uri, branch=branch)


def media_listener(local_ip):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((local_ip, 0))
    return sock


def listen_media(sock, seconds):
    """Count what arrives on the media port: packets, sizes, RTP payload types."""
    sizes, types = collections.Counter(), collections.Counter()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        sizes[len(data)] += 1
        if len(data) >= 12 and data[0] >> 6 == 2:
            types[data[1] & 0x7F] += 1
    return {"packets": sum(sizes.values()), "sizes": dict(sizes), "payload_types": dict(types)}


def to_tag(message):
    match = re.search(r"tag=([^;>\s]+)", message.header("to")[0]) if message.header("to") else None
    return match.group(1) if match else ""


def via_branch(message):
    return re.search(r"branch=([^;\s]+)", message.header("via")[0]).group(1)


def invite(dialog, args, media):
    result = {"codes": dialog.received}
    offer = sdp_offer(args.local_ip, media.getsockname()[1], args.srtp)
    dialog.request("INVITE", 1, body=offer)
    answer = dialog.final("INVITE")
    cseq = 1
    if answer.code in (401, 407) and args.user:
        # ACK for a non-2xx answer: same branch as the INVITE; To carries the answer's tag.
        dialog.to_tag = to_tag(answer)
        dialog.ack(1, branch=via_branch(answer))
        dialog.to_tag = ""
        auth = digest_header(md5_challenge(answer), "INVITE", dialog.target, args.user,
                             os.environ.get("BYOM_SIP_PASSWORD", ""))
        cseq = 2
        dialog.request("INVITE", cseq, body=offer, extra=[f"Authorization: {auth}"])
        answer = dialog.final("INVITE")
    result["final"] = answer.code
    dialog.to_tag = to_tag(answer)
    if answer.code >= 300:
        dialog.ack(cseq, branch=via_branch(answer))
        return result
    result["answer_sdp"] = answer.body
    contact = answer.header("contact") or answer.header("m")
    uri = re.search(r"<([^>]+)>", contact[0]).group(1) if contact else dialog.target
    dialog.ack(cseq, uri=uri)
    result["media"] = listen_media(media, args.hold)
    dialog.request("BYE", cseq + 1, uri=uri)
    result["bye"] = dialog.final("BYE").code
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--transport", choices=["tls", "tcp"], default="tls")
    parser.add_argument("--local-ip", default="127.0.0.2")
    parser.add_argument("--server", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5061)
    parser.add_argument("--ca", default="/etc/byom-lab-tls/ca.crt")
    parser.add_argument("--method", choices=["INVITE", "OPTIONS"], default="INVITE")
    parser.add_argument("--to", default="", help="user part of the Request-URI (the dialled number)")
    parser.add_argument("--user", default="", help="digest user name (password: BYOM_SIP_PASSWORD)")
    parser.add_argument("--srtp", action="store_true", help="offer RTP/SAVP with an SDES a=crypto line")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds to stay in the call")
    parser.add_argument("--timeout", type=float, default=20.0, help="overall deadline in seconds")
    args = parser.parse_args()

    deadline = time.monotonic() + args.timeout
    result = {"transport": args.transport}
    try:
        raw = socket.create_connection((args.server, args.port), timeout=5, source_address=(args.local_ip, 0))
        sock = raw
        if args.transport == "tls":
            context = ssl.create_default_context(cafile=args.ca)
            sock = context.wrap_socket(raw, server_hostname=args.server)
            result["tls_version"] = sock.version()
        dialog = Dialog(Stream(sock, deadline), args, sock.getsockname()[1])
        if args.method == "OPTIONS":
            dialog.request("OPTIONS", 1)
            result["final"] = dialog.final("OPTIONS").code
            result["codes"] = dialog.received
        else:
            with media_listener(args.local_ip) as media:
                result.update(invite(dialog, args, media))
        sock.close()
    except (OSError, SipError, ssl.SSLError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
