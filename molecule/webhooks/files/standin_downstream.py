"""Stand-in downstream for the webhooks Molecule scenario: appends every delivery (its
Idempotency-Key, attempt and body) to a JSON-lines file and answers 200."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[3], "a") as out:
            out.write(json.dumps({"key": self.headers.get("Idempotency-Key"), "attempt": self.headers.get("X-Byom-Attempt"),
                                  "type": self.headers.get("X-Byom-Event-Type"), "body": body.decode()}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


HTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
