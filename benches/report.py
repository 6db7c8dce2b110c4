#!/usr/bin/env python3
"""Runs the codec benchmarks several times and prints a Markdown table of ns per packet.

Usage (from anywhere in the workspace):

    python3 benches/report.py [RUNS]        # default 3 runs

Each run is `cargo bench -p ringmq-benches --bench codec`. After each run, every benchmark's
samples are read from target/criterion/<group>/<bench>/new/sample.json (ns per packet for each
sample). The table gives, per benchmark, each run's median, the median of those medians, and
the median of each run's 10th percentile. On a quiet machine the two agree; on a shared one the
samples taken while another process held the core run about twice as slow, which moves the
median but not the 10th percentile, so the latter is the uncontended cost.
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


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def read_runs():
    """{(group, bench): (median, p10)} in ns per packet, from the last run's samples."""
    out = {}
    for group in GROUPS:
        gdir = os.path.join(CRITERION, group)
        if not os.path.isdir(gdir):
            continue
        for bench in sorted(os.listdir(gdir)):
            path = os.path.join(gdir, bench, "new", "sample.json")
            if not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as f:
                sample = json.load(f)
            per = sorted(t / i for t, i in zip(sample["times"], sample["iters"]))
            out[(group, bench)] = (statistics.median(per), percentile(per, 0.10))
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
        results.append(read_runs())
    keys = sorted(set().union(*results), key=lambda k: (GROUPS.index(k[0]), k[1]))
    head = " | ".join(f"run {i + 1}" for i in range(runs))
    print(f"| benchmark (ns/packet) | {head} | median of medians | median of p10 |")
    print("|---|" + "---|" * runs + "---|---|")
    for key in keys:
        vals = [r[key] for r in results if key in r]
        cells = " | ".join(f"{m:.1f}" for m, _ in vals)
        mom = statistics.median(m for m, _ in vals)
        p10 = statistics.median(p for _, p in vals)
        print(f"| {key[0]}/{key[1]} | {cells} | **{mom:.1f}** | {p10:.1f} |")


if __name__ == "__main__":
    main()
