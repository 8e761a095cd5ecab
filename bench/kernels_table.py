#!/usr/bin/env python3
"""Markdown table of a deltacodec_bench_kernels JSON file (--benchmark_out).

usage: kernels_table.py KERNELS.json
MB/s are 1e6 bytes per second of wall time, bytes as defined in bench_kernels.cpp.
"""
import json
import sys


def main() -> None:
    with open(sys.argv[1]) as f:
        data = json.load(f)
    print("| case | MB/s | time per iteration | notes |")
    print("|---|---:|---:|---|")
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        name = b["name"].replace("/real_time", "")
        mbps = b.get("bytes_per_second", 0) / 1e6
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
        t = b["real_time"] * scale
        t, unit = (t * 1e3, "ms") if t >= 1e-3 else (t * 1e6, "µs")
        notes = b.get("label", "")
        if "coded_MB" in b:
            notes += f", coded {b['coded_MB']:.2f} MB"
        print(f"| {name} | {mbps:,.0f} | {t:.3g} {unit} | {notes} |")


if __name__ == "__main__":
    main()
