"""A webhook receiver for the webhook sink's tests: a real HTTP server (the standard library's).

    python3 webhook_receiver.py PORT_FILE OUT_FILE [--fail-first N] [--status S] [--records-per-second R]

Listens on 127.0.0.1 on a free port (written to PORT_FILE), answers the first N POSTs with 503 and every
later one with S (default 200); each POST answered 2xx is appended to OUT_FILE as one JSON line
{"key": <Idempotency-Key>, "body": <the JSON body>}. With R, a slow sink: a POST of n records is answered
n / R seconds after the previous answer's time, one POST at a time, and OUT_FILE gets
{"key", "records": n, "at": <unix seconds answered>} instead of the body.
"""
import argparse
import http.server
import json
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("port_file")
parser.add_argument("out_file")
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--status", type=int, default=200)
parser.add_argument("--records-per-second", type=float, default=0)
args = parser.parse_args()
lock = threading.Lock()
seen = {"posts": 0, "free_at": 0.0}


def throttled(key, body):
    """Answers when the records before these and these have had their time at R records a second."""
    n = len(json.loads(body)["records"])
    with lock:
        seen["free_at"] = max(seen["free_at"], time.time()) + n / args.records_per_second
        time.sleep(max(0.0, seen["free_at"] - time.time()))
        with open(args.out_file, "a") as f:
            f.write(json.dumps({"key": key, "records": n, "at": time.time()}) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if args.records_per_second > 0:
            throttled(self.headers.get("Idempotency-Key"), body)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")
            return
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
