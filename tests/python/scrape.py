"""Scrapes a Weir `/metrics` endpoint and parses it with prometheus_client's OpenMetrics parser (the
metrics tests run it): prints one JSON line, {"content_type": ..., "samples": [[name, labels, value], ...]}.
A page the parser refuses makes it exit 1 with the parser's reason.

    python3 scrape.py http://127.0.0.1:PORT/metrics [TOKEN]

With TOKEN, the request sends `Authorization: Bearer TOKEN` (a server's metrics off loopback need it); a
refused request exits 1 with its status.
"""
import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

request = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    request.add_header("Authorization", f"Bearer {sys.argv[2]}")
with urllib.request.urlopen(request, timeout=10) as response:
    content_type = response.headers.get("Content-Type")
    text = response.read().decode("utf-8")
samples = []
for family in text_string_to_metric_families(text):
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps({"content_type": content_type, "samples": samples}))
