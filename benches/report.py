#!/usr/bin/env python3
"""Runs the codec benchmarks several times and prints a Markdown table of ns per packet.

Usage (from anywhere in the workspace):

    python3 benches/report.py [RUNS]        # default 3 runs

Each run is `cargo bench -p ringmq-benches --bench codec`. After each run the median of
Criterion's samples is read from target/criterion/<group>/<bench>/new/estimates.json; the table
gives every run's median and the median of those medians.
"""

import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
CRITERION = os.path.join(TARGET, "criterion")
GROUPS = ("decode", "encode")


def read_medians():
    out = {}
    for group in GROUPS:
        gdir = os.path.join(CRITERION, group)
        if not os.path.isdir(gdir):
            continue
        for bench in sorted(os.listdir(gdir)):
            path = os.path.join(gdir, bench, "new", "estimates.json")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    out[(group, bench)] = json.load(f)["median"]["point_estimate"]
    return out


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results = []
    for i in range(runs):
        print(f"run {i + 1}/{runs}", file=sys.stderr)
        done = subprocess.run(
            ["cargo", "bench", "-p", "ringmq-benches", "--bench", "codec"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"cargo bench failed:\n{done.stderr}")
        results.append(read_medians())
    keys = sorted(set().union(*results), key=lambda k: (GROUPS.index(k[0]), k[1]))
    head = " | ".join(f"run {i + 1}" for i in range(runs))
    print(f"| benchmark | {head} | median of medians (ns) |")
    print("|---|" + "---|" * runs + "---|")
    for key in keys:
        vals = [r[key] for r in results if key in r]
        cells = " | ".join(f"{v:.1f}" for v in vals)
        print(f"| {key[0]}/{key[1]} | {cells} | **{statistics.median(vals):.1f}** |")


if __name__ == "__main__":
    main()
