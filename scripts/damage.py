#!/usr/bin/env python3
"""Damage campaign over a job's whole checkpoint directory.

A socket-fed word count (write-ahead log, running counts in keyed state, checkpoints every 3 batches of
100 ms, 3 kept) receives LINES lines and is killed with SIGKILL while batches are logged after its newest
checkpoint. Each trial copies that directory, damages one file in it — a part, a manifest, a batch-log
entry, a write-ahead-log segment, the COMMITTED marker, a directory listing — by truncating, flipping
one bit, deleting or emptying it, and runs the job again. A trial passes when the job either

  * recovers with correct output: every batch time written once, every received word counted once
    over the per-batch counts, and the running counts of the last batch equal to the words sent; or
  * recovers and reports a loss: lines received but never put in a batch, at the damaged end of the
    write-ahead log, are cut off with a warning saying how many bytes, and the output is consistent; or
  * is refused: a non-zero exit with an `error:` line naming what is wrong.

Anything else — a zero exit with wrong or missing output — is "silently wrong" and fails the campaign.

    python3 scripts/damage.py [--trials 200] [--seed 1] [--weir target/debug/weir]
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict

LINES = 20_000
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon"]

SPEC = """
[job]
name = "damage"
batch_interval = "100ms"

[sources.lines]
kind = "socket"
port = {port}

[streams.words]
op = "tokenize"
from = "lines"

[streams.pairs]
op = "map_to_pair"
from = "words"

[streams.per_batch]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"

[streams.counts]
op = "update_state_by_key"
from = "pairs"
updater = "sum"

[sinks.batches]
kind = "jsonl"
from = "per_batch"
path = "batches.jsonl"

[sinks.totals]
kind = "jsonl"
from = "counts"
path = "counts.jsonl"

[checkpoint]
dir = "checkpoints"
every = 3
keep = 3
"""


def line(i):
    return f"{WORDS[i % 5]} {WORDS[(i * 7) % 5]}"


def expected():
    want = Counter()
    for i in range(LINES):
        want.update(line(i).split())
    return dict(want)


def wal_bytes(d):
    wal = os.path.join(d, "checkpoints", "wal", "lines")
    return sum(os.path.getsize(os.path.join(wal, f)) for f in os.listdir(wal)) if os.path.isdir(wal) else 0


def checkpoints(d):
    ck = os.path.join(d, "checkpoints")
    return [int(n.split("-")[1]) for n in os.listdir(ck) if n.startswith("checkpoint-")
            and os.path.isfile(os.path.join(ck, n, "manifest.json"))] if os.path.isdir(ck) else []


def committed(d):
    return max(checkpoints(d), default=0)


def logged_after(d):
    log = os.path.join(d, "checkpoints", "batches")
    c = committed(d)
    return [n for n in os.listdir(log) if int(n[6:26]) > c] if os.path.isdir(log) else []


def base(weir, root):
    """The killed job's directory: all lines in the write-ahead log, two checkpoints or more, and batches
    logged after the newest."""
    for attempt in range(20):
        d = os.path.join(root, f"base{attempt}")
        os.makedirs(d)
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with open(os.path.join(d, "job.toml"), "w") as f:
            f.write(SPEC.format(port=server.getsockname()[1]))
        child = subprocess.Popen([weir, "run", "job.toml"], cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peer, _ = server.accept()
        data = "".join(line(i) + "\n" for i in range(LINES)).encode()
        for i in range(0, len(data), 16_384):
            peer.sendall(data[i:i + 16_384])
            time.sleep(0.03)
        deadline = time.time() + 20
        # Two checkpoints at least, so a damaged newest one has one to fall back to.
        while (wal_bytes(d) < len(data) or len(checkpoints(d)) < 2 or len(logged_after(d)) < 2) and time.time() < deadline:
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        child.wait()
        peer.close()
        server.close()
        if wal_bytes(d) >= len(data) and len(checkpoints(d)) >= 2 and len(logged_after(d)) >= 2:
            return d
    sys.exit("never caught the job with batches logged after a checkpoint")


def kind_of(rel):
    name = os.path.basename(rel)
    if name.endswith(".part"):
        return "part"
    if name == "manifest.json":
        return "manifest"
    if rel.startswith("batches"):
        return "batch log"
    if rel.startswith("wal"):
        return "write-ahead log"
    return name


def damage(path, how, rng):
    data = open(path, "rb").read()
    if how == "delete":
        os.remove(path)
        return
    if how == "empty":
        data = b""
    elif how == "truncate":
        data = data[: rng.randrange(len(data))] if data else data
    elif data:
        i = rng.randrange(len(data))
        data = data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]
    open(path, "wb").write(data)


def outcome(d, proc, want):
    if proc.returncode != 0:
        errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
        return ("refused", errors[-1][:160]) if errors else ("SILENTLY WRONG", f"exit {proc.returncode} without an error line")
    try:
        batches = [json.loads(l) for l in open(os.path.join(d, "batches.jsonl")) if l.strip()]
        totals = [json.loads(l) for l in open(os.path.join(d, "counts.jsonl")) if l.strip()]
    except (OSError, ValueError) as e:
        return "SILENTLY WRONG", f"output unreadable: {e}"
    times = [b["time"] for b in batches]
    if len(times) != len(set(times)):
        return "SILENTLY WRONG", "a batch written twice"
    summed = Counter()
    for b in batches:
        for r in b["records"]:
            summed[r["key"]] += r["value"]
    last = {r["key"]: r["value"] for r in totals[-1]["records"]} if totals else {}
    if dict(summed) == want and last == want:
        return "recovered", ""
    # Lines received but never put in a batch may be cut off with the damaged end of the log, said so.
    reported = "dropping the last" in proc.stderr
    consistent = dict(summed) == last and all(last.get(k, 0) <= v for k, v in want.items())
    if reported and consistent:
        return "loss reported", ""
    return "SILENTLY WRONG", f"per-batch counts {dict(summed)}, running counts {last}, want {want}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true", help="print each trial's outcome and reason")
    ap.add_argument("--weir", default=os.path.join(os.path.dirname(__file__), "..", "target", "debug", "weir"))
    args = ap.parse_args()
    weir = os.path.abspath(args.weir)
    rng = random.Random(args.seed)
    want = expected()
    table = defaultdict(Counter)
    wrong = []
    with tempfile.TemporaryDirectory() as root:
        killed = base(weir, root)
        files = sorted(os.path.relpath(os.path.join(dp, f), os.path.join(killed, "checkpoints"))
                       for dp, _, fs in os.walk(os.path.join(killed, "checkpoints")) for f in fs if f != "LOCK")
        # The undamaged directory must recover: the control.
        trials = [(None, None)] + [(rng.choice(files), rng.choice(["truncate", "bit-flip", "delete", "empty"]))
                                   for _ in range(args.trials)]
        for n, (rel, how) in enumerate(trials):
            d = os.path.join(root, f"trial{n}")
            shutil.copytree(killed, d)
            if rel:
                damage(os.path.join(d, "checkpoints", rel), how, rng)
            proc = subprocess.run([weir, "run", "job.toml", "--duration", "1s"], cwd=d, capture_output=True, text=True, timeout=120)
            result, why = outcome(d, proc, want)
            key = (kind_of(rel), how) if rel else ("(none)", "control")
            table[key][result] += 1
            if result == "SILENTLY WRONG" or (rel is None and result != "recovered"):
                wrong.append(f"{rel} {how}: {result}: {why}")
            if args.verbose:
                print(f"{rel} {how}: {result} {why}", flush=True)
            shutil.rmtree(d)
    print(f"{'file':<18} {'damage':<9} {'recovered':>9} {'loss reported':>13} {'refused':>8} {'silently wrong':>15}")
    totals = Counter()
    for (kind, how), c in sorted(table.items()):
        totals.update(c)
        print(f"{kind:<18} {how:<9} {c['recovered']:>9} {c['loss reported']:>13} {c['refused']:>8} {c['SILENTLY WRONG']:>15}")
    print(f"{'all':<18} {'':<9} {totals['recovered']:>9} {totals['loss reported']:>13} {totals['refused']:>8} {totals['SILENTLY WRONG']:>15}")
    for w in wrong:
        print("WRONG:", w)
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
