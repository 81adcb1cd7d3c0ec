"""Scrapes a Weir `/metrics` endpoint and parses it with prometheus_client's OpenMetrics parser (the
metrics tests run it): prints one JSON line, {"content_type": ..., "samples": [[name, labels, value], ...]}.
A page the parser refuses makes it exit 1 with the parser's reason.

    python3 scrape.py http://127.0.0.1:PORT/metrics
"""
import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
    content_type = response.headers.get("Content-Type")
    text = response.read().decode("utf-8")
samples = []
for family in text_string_to_metric_families(text):
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps({"content_type": content_type, "samples": samples}))
