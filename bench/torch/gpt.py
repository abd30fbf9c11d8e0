#!/usr/bin/env python3
"""PyTorch twin of turbine's gpt workload (DESIGN.md §4): a char-level GPT on the KJV text.

    OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/torch/gpt.py --threads 1 --steps 30 --warmup 5 --json
    /usr/bin/python3 bench/torch/gpt.py --threads 2 --precision bf16 --time-to-quality --json
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch/gpt.py --ddp 2 --steps 30 --json

Model: 4 pre-LayerNorm blocks, 4 heads, width 256, context 128, dropout 0. Block:
x += proj(attn(ln1(x))); x += fc2(gelu(fc1(ln2(x)))) with exact (erf) GELU. qkv is one
Linear(256, 768) whose outputs are q, k, v in that order, head h taking features 64h..64h+63 of
each. Attention: softmax((q @ kᵀ)·(1/√64) with -inf above the diagonal) @ v. Logits: ln_f, then
the token embedding's transpose (tied, no bias) or `head` (--untied, Linear without bias).
Initialisation (GPT-2 style, no residual-projection scaling): every Linear weight and both
embeddings ~ normal(0, 0.02), every Linear bias 0, LayerNorm weight 1 and bias 0.
Recipe: see `optimizer` and `learning_rate` below, gradient clipping at total norm 1.0."""
import contextlib
import json
import math
import os
import pathlib
import socket
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import common

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "test" / "fixtures"))
import safetensors_io  # noqa: E402

LAYERS, HEADS, WIDTH, CONTEXT = 4, 4, 256, 128


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
        self.qkv, self.proj = nn.Linear(WIDTH, 3 * WIDTH), nn.Linear(WIDTH, WIDTH)
        self.fc1, self.fc2 = nn.Linear(WIDTH, 4 * WIDTH), nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x, above_diagonal):
        b, t, c = x.shape
        q, k, v = (z.view(b, t, HEADS, c // HEADS).transpose(1, 2) for z in self.qkv(self.ln1(x)).split(c, dim=2))
        att = ((q @ k.transpose(-2, -1)) * (1 / math.sqrt(c // HEADS))).masked_fill(above_diagonal, float("-inf"))
        x = x + self.proj((att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, c))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class GPT(nn.Module):
    """State-dict names: wte.weight, wpe.weight, blocks.{i}.{ln1,qkv,proj,ln2,fc1,fc2}.{weight,bias},
    ln_f.{weight,bias}, and head.weight when untied. Linear weights are [out, in]."""

    def __init__(self, vocab, tied=True):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, WIDTH), nn.Embedding(CONTEXT, WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(WIDTH)
        self.head = None if tied else nn.Linear(WIDTH, vocab, bias=False)
        # A plain attribute, not a buffer: gloo cannot broadcast bool tensors when DDP syncs buffers.
        self.above_diagonal = torch.ones(CONTEXT, CONTEXT, dtype=torch.bool).triu(1)
        # GPT-2's initialisation, as turbine's GPT and nanoGPT have it: N(0, 0.02²) weights, zero
        # biases, and the two projections into the residual stream scaled by 1/√(2·layers).
        for name, m in self.named_modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                residual = name.endswith(".proj") or name.endswith(".fc2")
                nn.init.normal_(m.weight, 0.0, 0.02 / math.sqrt(2 * LAYERS) if residual else 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, tokens, targets):
        t = tokens.shape[1]
        x = self.wte(tokens) + self.wpe.weight[:t]
        for block in self.blocks:
            x = block(x, self.above_diagonal[:t, :t])
        x = self.ln_f(x)
        logits = self.head(x) if self.head is not None else F.linear(x, self.wte.weight)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def optimizer(model):
    """AdamW(lr 1e-3, betas (0.9, 0.99), eps 1e-8, foreach); weight decay 0.1 on parameters with ≥ 2
    dimensions (Linear weights, embeddings, head), none on biases and LayerNorm (as nanoGPT)."""
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, foreach=True)


def learning_rate(step, total, warmup, base=1e-3, floor=0.1):
    """For 0-based step s: base·(s+1)/warmup while s < warmup, then
    base·(floor + (1-floor)·(1 + cos(π·(s-warmup)/(total-warmup)))/2)."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def windows(data, starts):
    """Inputs and next-token targets of the windows beginning at `starts`: [len(starts), CONTEXT] each."""
    w = data[starts[:, None] + torch.arange(CONTEXT + 1)]
    return w[:, :-1], w[:, 1:]


def validation_batches(val, batches=20, batch=32):
    """20 fixed batches: window k of 640 starts at k·(len(val)-129)//639, batch j = windows 32j..32j+31."""
    n = batches * batch
    starts = torch.arange(n) * (len(val) - CONTEXT - 1) // (n - 1)
    return [windows(val, s) for s in starts.split(batch)]


@torch.no_grad()
def validation_loss(model, args, batches):
    with common.autocast(args):
        return sum(model(x, y).item() for x, y in batches) / len(batches)


def train(rank, world, args, port=None):
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
        args = common.start(build_parser(), args.argv + ["--threads", "1"])
    tokens, vocab = common.kjv_tokens()
    split = len(tokens) * 9 // 10
    train_data, val_data = tokens[:split], tokens[split:]
    model = GPT(len(vocab), tied=not args.untied)
    if args.init_from:
        model.load_state_dict(safetensors_io.load(args.init_from)[0])
    if args.save_init and rank == 0:
        safetensors_io.save(args.save_init, {k: v.contiguous() for k, v in model.state_dict().items()})
    net = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=args.bucket_mb) if world > 1 else model
    opt = optimizer(model)
    fixed = safetensors_io.load(args.batches_from)[0] if args.batches_from else None
    generator = torch.Generator().manual_seed(args.seed)

    def batch(step):
        if fixed is not None:
            return fixed["x"][step].long(), fixed["y"][step].long()
        # Every rank draws the same global batch and keeps its own contiguous share of it.
        starts = torch.randint(len(train_data) - CONTEXT, (world * args.batch,), generator=generator)
        return windows(train_data, starts[rank * args.batch:(rank + 1) * args.batch])

    ttq = args.time_to_quality
    warmup = 0 if ttq else args.warmup
    total = args.total_steps or (1500 if ttq else warmup + args.steps)
    if fixed is not None and total > len(fixed["x"]):
        sys.exit(f"gpt: {total} steps need {total} batches, {args.batches_from} holds {len(fixed['x'])}")
    val = validation_batches(val_data) if ttq else None
    clock, losses, evals, reached = common.Clock(), [], [], None
    for step in range(total):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, total, args.lr_warmup)
        with clock.running() if step >= warmup else contextlib.nullcontext():
            x, y = batch(step)
            with common.autocast(args):
                loss = net(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        if args.dump_losses:
            losses.append(loss.item())
        if ttq and (step + 1) % args.eval_every == 0:
            evals.append({"step": step + 1, "val_loss": validation_loss(model, args, val), "seconds": clock.seconds})
            common.log(f"step {step + 1}: val {evals[-1]['val_loss']:.4f} after {clock.seconds:.1f} s")
            if reached is None and evals[-1]["val_loss"] <= args.target:
                reached = evals[-1]
                if not args.no_stop:
                    break
    steps = step + 1 - warmup
    extra = {"batch": x.shape[0], "world": world, "tokens": steps * world * x.numel()}
    if ttq:
        extra.update(target=args.target, reached_step=reached and reached["step"],
                     seconds_to_target=reached and reached["seconds"], evals=evals)
    if args.dump_losses and rank == 0:
        with open(args.dump_losses, "w") as f:
            json.dump({"train_loss": losses, "evals": evals}, f)
    if rank == 0:
        common.report(args, "tokens/s", extra["tokens"], steps, clock, loss.item(), **extra)
    if world > 1:
        dist.destroy_process_group()


def build_parser():
    p = common.parser("gpt", __doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=32, help="sequences per step (per process with --ddp)")
    p.add_argument("--untied", action="store_true", help="a separate output head instead of the token embedding")
    p.add_argument("--total-steps", type=int, default=0, help="schedule length (default: warmup + steps, or 1500)")
    p.add_argument("--lr-warmup", type=int, default=100, help="linear learning-rate warm-up steps")
    p.add_argument("--time-to-quality", action="store_true", help="train to --target, validating every --eval-every")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--target", type=float, default=1.6)
    p.add_argument("--no-stop", action="store_true", help="run the whole schedule past the target")
    p.add_argument("--init-from", help="safetensors file of initial weights, named as the state dict")
    p.add_argument("--save-init", help="write the initial weights to this safetensors file")
    p.add_argument("--batches-from", help="safetensors file with x, y [N, B, T] int32: step i trains on batch i")
    p.add_argument("--dump-losses", help="write every step's training loss (and validations) to this JSON file")
    p.add_argument("--ddp", type=int, default=1, help="processes (gloo, one thread each)")
    p.add_argument("--bucket-mb", type=float, default=25.0, help="DDP gradient bucket size in MB (bench/ddp.ts searches it)")
    return p


def main():
    argv = sys.argv[1:]
    args = build_parser().parse_args(argv)
    if args.ddp > 1:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        args.argv = argv
        torch.multiprocessing.spawn(train, args=(args.ddp, args, port), nprocs=args.ddp)
    else:
        train(0, 1, common.start(build_parser(), argv))


if __name__ == "__main__":
    main()
