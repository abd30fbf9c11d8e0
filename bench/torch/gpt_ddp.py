"""PyTorch DDP twin of turbine's data-parallel gpt: gloo on localhost, 2 processes x 1 thread.

The model, data and recipe are bench/torch/gpt.py's (the --batch is per process, as turbine's
per-rank batch); this runs it under torch.distributed with --ddp 2 unless told otherwise.
Run with OPENBLAS_NUM_THREADS=1 (bench/ddp.ts sets it):

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch/gpt_ddp.py --steps 20 --warmup 5 --json
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt  # noqa: E402

if __name__ == "__main__":
    if not any(a == "--ddp" or a.startswith("--ddp=") for a in sys.argv[1:]):
        sys.argv[1:1] = ["--ddp", "2"]
    gpt.main()
