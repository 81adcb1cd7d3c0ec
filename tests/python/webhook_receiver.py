"""A webhook receiver for the webhook sink's tests: a real HTTP server (the standard library's).

    python3 webhook_receiver.py PORT_FILE OUT_FILE [--fail-first N] [--status S]

Listens on 127.0.0.1 on a free port (written to PORT_FILE), answers the first N POSTs with 503 and every
later one with S (default 200); each POST answered 2xx is appended to OUT_FILE as one JSON line
{"key": <Idempotency-Key>, "body": <the JSON body>}.
"""
import argparse
import http.server
import json
import threading

parser = argparse.ArgumentParser()
parser.add_argument("port_file")
parser.add_argument("out_file")
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--status", type=int, default=200)
args = parser.parse_args()
lock = threading.Lock()
seen = {"posts": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            seen["posts"] += 1
            status = 503 if seen["posts"] <= args.fail_first else args.status
            if 200 <= status < 300:
                with open(args.out_file, "a") as f:
                    f.write(json.dumps({"key": self.headers.get("Idempotency-Key"), "body": json.loads(body)}) + "\n")
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"not today" if status >= 300 else b"ok")

    def log_message(self, *a):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os

os.rename(args.port_file + ".tmp", args.port_file)
server.serve_forever()
