#!/usr/bin/env python3
"""PyTorch twin of turbine's cnn workload (DESIGN.md §4): Fashion-MNIST, conv 1→32 3×3, ReLU,
maxpool 2, conv 32→64 3×3, ReLU, maxpool 2, fc 1600→128, ReLU, fc 128→10; AdamW lr 1e-3,
batch 128, cross-entropy; PyTorch's default initialisation. ReLU and 2×2 max pooling commute,
so both convolutions pool first, as turbine's model does: ReLU then runs on a quarter of the
elements.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch/cnn.py --threads 2 --steps 30 --warmup 5 --json
    /usr/bin/python3 bench/torch/cnn.py --epochs 1 --eval      # one epoch, then test accuracy
"""
from torch import nn

import common


def build():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.MaxPool2d(2),
                         nn.ReLU(), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))


if __name__ == "__main__":
    common.classifier_main("cnn", __doc__.split("\n\n")[0], build, batch=128, memory_format="channels_last")
