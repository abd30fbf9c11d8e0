#!/usr/bin/env python3
"""PyTorch twin of turbine's mlp workload (DESIGN.md §4): Fashion-MNIST, 784-1024-1024-10 ReLU,
AdamW lr 1e-3, batch 256, cross-entropy; PyTorch's default Linear initialisation.

    OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/torch/mlp.py --threads 1 --steps 30 --warmup 5 --json
    /usr/bin/python3 bench/torch/mlp.py --epochs 1 --eval      # one epoch, then test accuracy
"""
from torch import nn

import common


def build():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 10))


if __name__ == "__main__":
    common.classifier_main("mlp", __doc__.split("\n\n")[0], build, batch=256)
