"""One out-of-dialog SIP request over UDP from a chosen loopback source; prints the final answer.

Usage: python3 sip_probe.py SOURCE_IP SOURCE_PORT METHOD [REQUEST_URI_USER]
Prints one JSON line {"method", "ruri", "call_id", "code"} (code 0: no final answer). Bounded:
two sends, 3 s each. Only for the lab's own Asterisk on 127.0.0.1:5060.
"""
import json
import socket
import sys
import uuid

TARGET = ("127.0.0.1", 5060)


def main():
    src, port, method = sys.argv[1], int(sys.argv[2]), sys.argv[3].upper()
    user = sys.argv[4] if len(sys.argv) > 4 else ""
    ruri = "sip:%s@%s:%d" % (user, TARGET[0], TARGET[1]) if user else "sip:%s:%d" % TARGET
    call_id = uuid.uuid4().hex
    message = (
        "%s %s SIP/2.0\r\n"
        "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:probe@%s>;tag=%s\r\n"
        "To: <%s>\r\n"
        "Call-ID: %s\r\n"
        "CSeq: 1 %s\r\n"
        "Contact: <sip:probe@%s:%d>\r\n"
        "%s"
        "Content-Length: 0\r\n\r\n"
    ) % (method, ruri, src, port, uuid.uuid4().hex[:16], src, uuid.uuid4().hex[:8], ruri, call_id, method,
         src, port, "Event: presence\r\nExpires: 60\r\n" if method == "SUBSCRIBE" else "")
    code = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((src, port))
        sock.settimeout(3)
        for _attempt in range(2):
            sock.sendto(message.encode(), TARGET)
            try:
                while True:
                    answer = sock.recv(65535).decode(errors="replace")
                    if ("Call-ID: %s" % call_id) not in answer and ("i: %s" % call_id) not in answer:
                        continue
                    status = int(answer.split(" ", 2)[1])
                    if status >= 200:
                        code = status
                        break
            except socket.timeout:
                continue
            break
    print(json.dumps({"method": method, "ruri": ruri, "call_id": call_id, "code": code}))


if __name__ == "__main__":
    main()
