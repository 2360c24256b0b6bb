"""Latency of `review serve`: decision -> next card, with several reviewers at once.

Builds the 20,000-record review of bench_screen_latency_store.py (the six labelled sets of
../shared/data/screening/, relative to the repository root and not part of it, then copies),
adds reviewer accounts, and starts the web app (waitress, 127.0.0.1, a free port) in a separate
process, as `review serve` runs it. Then ``--reviewers`` clients (threads; 3 by default) sign in
and screen at the same time, each deciding by the records' ``label_included``.

For every decision the time is measured from sending the form (POST /decide) until the next
card's page has arrived (the answer to the POST is the next card, rendered with the highlighted
title and abstract and the counts). Clients send the next
decision as soon as the card arrives (no think time), which is harsher than people are.

Usage: python benchmarks/bench_serve_latency.py [--records 20000] [--reviewers 3]
       [--decisions 200]
Prints start-up times and p50/p95/max latency in milliseconds, per reviewer and overall.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_screen_latency_store import build  # noqa: E402
from toolkit.screening import accounts  # noqa: E402
from toolkit.store import open_review  # noqa: E402

CARD = re.compile(r'id="card" data-record="(\d+)"')
FIELD = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reviewer(url: str, name: str, labels: dict[int, int], n: int, out: dict) -> None:
    s = requests.Session()
    page = s.get(url + "/login").text
    token = FIELD.search(page).group(2)
    t0 = time.perf_counter()
    page = s.post(url + "/login", data={"csrf_token": token, "name": name,
                                        "password": "bench-password"}).text
    out["first_card_s"] = time.perf_counter() - t0
    lat = []
    for _ in range(n):
        m = CARD.search(page)
        if m is None:
            break
        rid = int(m.group(1))
        f = dict(FIELD.findall(page))
        data = {"csrf_token": f["csrf_token"], "record_id": f["record_id"], "token": f["token"],
                "decision": "include" if labels[rid] else "exclude"}
        t = time.perf_counter()
        r = s.post(url + "/decide", data=data)
        lat.append(time.perf_counter() - t)
        page = r.text
        if "saved:" not in page:
            raise SystemExit(f"{name}: decision on record {rid} not saved")
    out["latency"] = lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--reviewers", type=int, default=3)
    ap.add_argument("--decisions", type=int, default=200)
    args = ap.parse_args()
    names = [f"r{i + 1}" for i in range(args.reviewers)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        labels = build(db, args.records)
        with open_review(db) as review:
            for name in names:
                accounts.add_reviewer(review, name, "bench-password")
        port = free_port()
        t0 = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-c", (
            "from toolkit.web.server import serve; "
            f"serve({str(db)!r}, port={port}, screening={{'seed': 1}})")], cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    requests.get(url + "/login", timeout=1)
                    break
                except requests.ConnectionError:
                    if server.poll() is not None:
                        raise SystemExit("the server did not start")
                    time.sleep(0.2)
            listening = time.perf_counter() - t0
            outs = {name: {} for name in names}
            threads = [threading.Thread(target=reviewer, args=(url, name, labels,
                                                               args.decisions, outs[name]))
                       for name in names]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"records {args.records}, reviewers {args.reviewers} at once, "
          f"{args.decisions} decisions each; server listening after {listening:.1f} s")
    every = []
    for name in names:
        ms = np.array(outs[name]["latency"]) * 1000
        every.extend(ms)
        print(f"  {name}: first card {outs[name]['first_card_s']:.1f} s after sign-in; "
              f"decision -> next card p50 {np.percentile(ms, 50):.0f} ms, "
              f"p95 {np.percentile(ms, 95):.0f} ms, max {ms.max():.0f} ms")
    ms = np.array(every)
    print(f"all: decision -> next card p50 {np.percentile(ms, 50):.0f} ms, "
          f"p95 {np.percentile(ms, 95):.0f} ms, max {ms.max():.0f} ms over {len(ms)} decisions")


if __name__ == "__main__":
    main()
