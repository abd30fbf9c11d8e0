#!/usr/bin/env python3
"""Finds PyTorch's best thread settings per workload: runs each twin at torch threads × OpenBLAS
threads × precision, in interleaved rounds (every setting once per round, so load changes on a
shared machine hit all of them alike), and prints the median throughput of each as a table.

    /usr/bin/python3 bench/torch/thread_search.py --rounds 3 --steps 30 --warmup 5 [--workloads gpt]

Each run is a fresh process, since OpenBLAS reads OPENBLAS_NUM_THREADS when torch loads it.
Every JSON result line is appended to --log for later inspection."""
import argparse
import itertools
import json
import os
import pathlib
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def run(workload, precision, threads, blas_threads, args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(blas_threads))
    command = [sys.executable, str(HERE / f"{workload}.py"), "--threads", str(threads), "--precision", precision,
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--json"]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", nargs="+", default=["mlp", "cnn", "gpt"])
    p.add_argument("--precisions", nargs="+", default=["f32", "bf16"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--blas-threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--log", default="thread_search.jsonl")
    args = p.parse_args()
    settings = list(itertools.product(args.workloads, args.precisions, args.threads, args.blas_threads))
    results = {s: [] for s in settings}
    with open(args.log, "a") as log:
        for r in range(args.rounds):
            for s in settings:
                row = run(*s, args)
                results[s].append((row["throughput"], row["load_average"]))
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(f"round {r + 1}: {s} {row['throughput']:.0f} {row['unit']} (load {row['load_average']:.2f})",
                      file=sys.stderr, flush=True)
    print("| workload | precision | torch threads | OpenBLAS threads | median | min | max | load average |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (workload, precision, threads, blas_threads), values in results.items():
        speeds = [v for v, _ in values]
        load = statistics.mean(l for _, l in values)
        print(f"| {workload} | {precision} | {threads} | {blas_threads} | {statistics.median(speeds):.0f} | "
              f"{min(speeds):.0f} | {max(speeds):.0f} | {load:.1f} |")


if __name__ == "__main__":
    main()
