#!/usr/bin/env python3
"""mortalsim against IBM aihwkit, side by side on this machine: training samples per second of
the same network (784-H1-H2-10, sigmoid, SGD lr 0.05, batch 64) on the same MNIST images, the two
tools alternated in one run so that both see the same machine load; ratios are what to report.

Set-up (not needed by mortalsim itself):
    python3 -m venv /tmp/aienv && /tmp/aienv/bin/pip install aihwkit==1.1.0 torch==2.10.0
    cargo build --release
    /tmp/aienv/bin/python scripts/aihwkit-speed.py [--samples 3200] [--repeats 3] [--threads 2]

Configurations: `constant-step` (aihwkit SingleRPUConfig(ConstantStepDevice()) with its default
IO and pulsed update, against mortalsim's `constant-step` preset with `bp-oracle`) and `ideal`
(aihwkit FloatingPointRPUConfig() against mortalsim's `ideal` preset with `bp-oracle`), plus
PyTorch fp32 against mortalsim's `bp-digital`.
"""

import argparse
import gzip
import json
import os
import statistics
import subprocess
import time

import numpy as np
import torch
from torch import nn

from aihwkit.nn import AnalogLinear, AnalogSequential
from aihwkit.optim import AnalogSGD
from aihwkit.simulator.configs import FloatingPointRPUConfig, SingleRPUConfig
from aihwkit.simulator.configs.devices import ConstantStepDevice

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "mortalsim")


def load_mnist(n):
    d = os.path.join(ROOT, "data", "mnist")
    with gzip.open(os.path.join(d, "train-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)[:n]
    with gzip.open(os.path.join(d, "train-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return torch.tensor(x, dtype=torch.float32) / 255.0, torch.tensor(y, dtype=torch.long)


def aihwkit_rate(widths, config, x, y, batch):
    torch.manual_seed(1)
    layers = []
    for i in range(len(widths) - 1):
        if config == "fp32":
            layers.append(nn.Linear(widths[i], widths[i + 1]))
        else:
            rpu = (
                FloatingPointRPUConfig()
                if config == "ideal"
                else SingleRPUConfig(device=ConstantStepDevice())
            )
            layers.append(AnalogLinear(widths[i], widths[i + 1], bias=True, rpu_config=rpu))
        layers.append(nn.Sigmoid() if i < len(widths) - 2 else nn.LogSoftmax(dim=1))
    if config == "fp32":
        model = nn.Sequential(*layers)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
    else:
        model = AnalogSequential(*layers)
        opt = AnalogSGD(model.parameters(), lr=0.05)
        opt.regroup_param_groups(model)
    loss_fn = nn.NLLLoss()
    # Two untimed batches: first-call set-up of the tiles and of PyTorch.
    for i in (0, batch):
        opt.zero_grad()
        loss_fn(model(x[i : i + batch]), y[i : i + batch]).backward()
        opt.step()
    start = time.perf_counter()
    for i in range(0, len(x) - batch + 1, batch):
        opt.zero_grad()
        loss = loss_fn(model(x[i : i + batch]), y[i : i + batch])
        loss.backward()
        opt.step()
    secs = time.perf_counter() - start
    return (len(x) // batch) * batch / secs


def mortalsim_rate(widths, config, n, batch, threads):
    learner, device = {
        "fp32": ("bp-digital", "ideal"),
        "ideal": ("bp-oracle", "ideal"),
        "constant-step": ("bp-oracle", "constant-step"),
    }[config]
    out = subprocess.run(
        [BIN, "train", "--learner", learner, "--device", device,
         "--layers", ",".join(map(str, widths)), "--activation", "sigmoid",
         "--epochs", "1", "--batch", str(batch), "--lr", "0.05",
         "--train-limit", str(n), "--test-limit", "100", "--threads", str(threads), "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["samples_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=3200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--sizes", default="784-256-128-10,784-1024-1024-10,784-2048-2048-10")
    ap.add_argument("--configs", default="constant-step,ideal,fp32")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print("| layers | config | aihwkit samples/s | mortalsim samples/s | ratio (median) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for size in a.sizes.split(","):
        widths = [int(w) for w in size.split("-")]
        for config in a.configs.split(","):
            n = a.samples if widths[1] <= 256 else a.samples // 4
            x, y = load_mnist(n)
            ak, ms = [], []
            for _ in range(a.repeats):
                ak.append(aihwkit_rate(widths, config, x, y, a.batch))
                ms.append(mortalsim_rate(widths, config, n, a.batch, a.threads))
            ratios = [m / k for m, k in zip(ms, ak)]
            print(
                f"| {size} | {config} | {statistics.median(ak):,.0f} | "
                f"{statistics.median(ms):,.0f} | {statistics.median(ratios):.2f}× |",
                flush=True,
            )


if __name__ == "__main__":
    main()
