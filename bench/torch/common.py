"""What the PyTorch twins of turbine's reference workloads (DESIGN.md §4) share: options,
thread settings, data, the training clock and the one result line. Run the twins with Debian's
python3-torch (`/usr/bin/python3`); see bench/torch/README.md.

Threads: `--threads N` sets both torch.set_num_threads and set_num_interop_threads. OpenBLAS
reads its thread count once, when torch loads it, so the caller sets OPENBLAS_NUM_THREADS in
the environment (OPENBLAS_CORETYPE too, if at all). The effective values, read back from the
BLAS library torch loaded, are printed on stderr and put in the result line."""
import argparse
import contextlib
import ctypes
import gzip
import json
import math
import os
import pathlib
import struct
import subprocess
import sys
import time

import numpy as np
import torch

FASHION_ROOT = "/usr/share/datasets/fashion-mnist"  # where Debian's dataset-fashion-mnist puts it
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530
BEST = json.loads((pathlib.Path(__file__).parent / "best_settings.json").read_text())
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's malloc.h


def log(*parts):
    """Progress and settings go to stderr, so stdout holds only the result."""
    print(*parts, file=sys.stderr, flush=True)


def parser(workload, description, steps=50, warmup=5):
    """The options every twin takes."""
    p = argparse.ArgumentParser(description=description)
    p.set_defaults(workload=workload)
    p.add_argument("--threads", type=int, help="torch intra- and inter-op threads (default: best_settings.json)")
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                   help="bf16: autocast(cpu, bfloat16) around forward and loss; weights and optimizer stay f32")
    p.add_argument("--steps", type=int, default=steps, help="timed training steps")
    p.add_argument("--warmup", type=int, default=warmup, help="untimed training steps before them")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.add_argument("--malloc", choices=["retain", "default"], default="retain",
                   help="retain: keep freed blocks up to 32 MiB in the heap (see retain_freed_memory)")
    return p


def retain_freed_memory():
    """glibc hands large freed blocks back to the kernel (mmap threshold 128 KiB at first, trim
    threshold 128 KiB), so every step's activations come back as fresh pages that fault in and
    are zeroed again: 1.3-5x slower training here. This serves blocks up to 32 MiB from the heap
    and keeps up to 1 GiB of freed memory, as GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:
    glibc.malloc.trim_threshold=1073741824 would; tcmalloc or jemalloc, which PyTorch's CPU
    performance guides recommend, behave alike, but Debian's torch is not linked with them."""
    libc = ctypes.CDLL("libc.so.6")
    if not (libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)):
        raise RuntimeError("mallopt refused the thresholds")


def blas_info():
    """(name, threads) of the BLAS torch loaded: OpenBLAS's own report, or the library's path."""
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1].rsplit("/", 1)[-1]})
    for path in paths:
        lib = ctypes.CDLL(path)
        if hasattr(lib, "openblas_get_config"):
            lib.openblas_get_config.restype = lib.openblas_get_corename.restype = ctypes.c_char_p
            name = f"{lib.openblas_get_config().decode()} core={lib.openblas_get_corename().decode()}"
            return name, lib.openblas_get_num_threads()
    return (paths[0] if paths else "none"), None


def start(p, argv=None):
    """Parses the options, applies the thread settings and the seed, prints and returns them."""
    args = p.parse_args(argv)
    if args.malloc == "retain":
        retain_freed_memory()
    best = BEST[args.workload][args.precision]
    args.threads = args.threads or best["threads"]
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)
    blas, blas_threads = blas_info()
    capability = next((line.split(":")[1].strip() for line in torch.__config__.show().splitlines()
                       if "CPU capability" in line), "unknown")
    args.settings = {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
                     "openblas_threads": blas_threads, "openblas_env": os.environ.get("OPENBLAS_NUM_THREADS"),
                     "blas": blas, "malloc": args.malloc, "cpu_capability": capability, "torch": torch.__version__}
    log("settings:", json.dumps(args.settings))
    if args.threads == best["threads"] and blas_threads not in (None, best["openblas_threads"]):
        log(f"note: {args.workload} {args.precision} ran fastest with OPENBLAS_NUM_THREADS={best['openblas_threads']}")
    if blas_threads is None:
        # A reference BLAS makes every f32 matmul (and bf16 autocast's f32 parts) several times
        # slower: a comparison against it would flatter turbine, so the run refuses.
        raise SystemExit(f"bench: torch loaded {blas}, not OpenBLAS; install libopenblas0-pthread (scripts/setup.sh)")
    if "OPENBLAS_CORETYPE" in os.environ:
        log(f"warning: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} overrides OpenBLAS's choice of kernels for this CPU")
    return args


def autocast(args):
    """The precision policy: bf16 autocast on the CPU, or nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")


class Clock:
    """Training seconds only: wrap timed steps in `with clock.running():`, never warm-up or evaluation."""

    def __init__(self):
        self.seconds = 0.0

    @contextlib.contextmanager
    def running(self):
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - begin


def report(args, unit, count, steps, clock, final_loss, **extra):
    """Prints the result: `count` units processed in `steps` timed steps over the clock's seconds."""
    row = {"workload": args.workload, "precision": args.precision, **args.settings, "unit": unit,
           "throughput": count / clock.seconds if clock.seconds > 0 else None, "steps": steps,
           "seconds": clock.seconds, "final_loss": final_loss, "load_average": os.getloadavg()[0], **extra}
    if args.json:
        print(json.dumps(row), flush=True)
    else:
        for key, value in row.items():
            print(f"{key}: {value}")


def _read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(split, root=FASHION_ROOT):
    """(images [N, 1, 28, 28] f32 normalised, labels [N] int64) of "train" or "test". Pixels
    are (x/255 - 0.2860)/0.3530 computed in double and rounded once to f32, as turbine does."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images = _read_idx_gz(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz"))
    labels = _read_idx_gz(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz"))
    table = ((np.arange(256) / 255 - FASHION_MEAN) / FASHION_STD).astype(np.float32)
    return torch.from_numpy(table[images]).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def kjv_tokens():
    """The KJV text as printed by `bible -f Gen1:1-Rev22:21` (read afresh each run: 0.2 s), as
    int64 token ids, and the vocabulary: the sorted set of its code points, id = rank."""
    text = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True).stdout.decode("utf-8")
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    vocab = np.unique(codes)
    return torch.from_numpy(np.searchsorted(vocab, codes).astype(np.int64)), "".join(map(chr, vocab))


def shuffled_batches(n, batch, generator):
    """Index batches over 0..n-1 forever, a fresh seeded permutation each epoch; the last batch
    of an epoch is partial, as DataLoader(shuffle=True, drop_last=False) gives."""
    while True:
        order = torch.randperm(n, generator=generator)
        yield from order.split(batch)


@torch.no_grad()
def accuracy(model, args, images, labels, batch=1000):
    """Fraction of `images` whose argmax class equals the label, in the training precision."""
    model.eval()
    correct = 0
    for x, y in zip(images.split(batch), labels.split(batch)):
        with autocast(args):
            correct += (model(x).argmax(1) == y).sum().item()
    model.train()
    return correct / len(labels)


def run_classifier(model, args):
    """Trains `model` on Fashion-MNIST with AdamW(lr 1e-3, weight decay 0.01, PyTorch's default
    betas and eps; foreach, PyTorch's multi-tensor implementation) and cross-entropy: `--warmup` + `--steps` steps timed as samples/s, or, with
    `--epochs E`, E whole shuffled epochs, all timed; `--eval` adds the test accuracy."""
    images, labels = fashion_mnist("train")
    layout = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}[args.memory_format]
    model.to(memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, foreach=True)
    batches = shuffled_batches(len(labels), args.batch, torch.Generator().manual_seed(args.seed))

    def step(index):
        x = images[index].contiguous(memory_format=layout)
        with autocast(args):
            loss = torch.nn.functional.cross_entropy(model(x), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    if args.epochs:
        warmup, steps = 0, args.epochs * math.ceil(len(labels) / args.batch)
    else:
        warmup, steps = args.warmup, args.steps
    for _ in range(warmup):
        step(next(batches))
    clock, samples = Clock(), 0
    with clock.running():
        for _ in range(steps):
            index = next(batches)
            loss = step(index)
            samples += len(index)
    extra = {"batch": args.batch, "memory_format": args.memory_format, "samples": samples}
    if args.eval:
        extra["test_accuracy"] = accuracy(model, args, *fashion_mnist("test"))
    report(args, "samples/s", samples, steps, clock, loss.item(), **extra)


def classifier_main(workload, description, build, batch, memory_format="contiguous"):
    """The command line of a Fashion-MNIST twin: options, then run_classifier on build()."""
    p = parser(workload, description)
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--memory-format", choices=["contiguous", "channels_last"], default=memory_format,
                   help="layout of the images and the convolution weights")
    p.add_argument("--epochs", type=int, default=0, help="train this many whole epochs instead of --steps")
    p.add_argument("--eval", action="store_true", help="report the test accuracy after training")
    args = start(p)
    run_classifier(build(), args)
