#!/usr/bin/python3
"""The CSC layer as the SDNet authors write it, timed in Python: the reference column of
bench/side_by_side.sh for `sparseloop bench --case csc-layer`.

The formulation is the one docs/sdnet-authors-code.md §4 describes (github
Delay-Xili/SDNet, Lib/models/csc_layer.py, DictBlock.fista_forward), in our words:
unit-norm atoms, step 0.9/L, D through `conv_transpose2d`, Dᵀ through `conv2d`,
prox = ReLU(softshrink(·, λη)), FISTA whose first two steps are ISTA steps, autograd
through every step. L is estimated once before timing, as `sparseloop bench` does
(`step_refresh on-change`), so both sides time the same K-step solve.

Prints one JSON object: forward_ms, forward_backward_ms (medians), peak_mib (the
resident set's rise during one forward+backward), and the sizes.

    /usr/bin/python3 bench/authors_csc_layer.py --in 64 --out 64 --size 16 --batch 32 \
        --iterations 10 --threads 2
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def hwm_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--in", dest="cin", type=int, default=64)
    p.add_argument("--out", dest="cout", type=int, default=64)
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--lmbda", type=float, default=0.1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    pad = a.kernel // 2
    weight = torch.empty(a.cout, a.cin, a.kernel, a.kernel)
    torch.nn.init.kaiming_uniform_(weight, a=5 ** 0.5)
    weight.requires_grad_(True)
    x = torch.randn(a.batch, a.cin, a.size, a.size)
    xg = x.clone().requires_grad_(True)

    def unit(w):
        return w / w.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)

    with torch.no_grad():  # L once, by power iteration on DᵀD (a constant, as the authors')
        w = unit(weight)
        v = torch.randn(1, a.cout, a.size, a.size)
        for _ in range(100):
            v = F.conv2d(F.conv_transpose2d(v, w, padding=pad), w, padding=pad)
            v = v / v.norm()
        L = (F.conv_transpose2d(v, w, padding=pad) ** 2).sum().item()
    step = 0.9 / L

    def layer(inp):
        w = unit(weight)
        prox = lambda u: F.relu(F.softshrink(u, a.lmbda * step))
        c = prox(step * F.conv2d(inp, w, padding=pad))
        c_prev, t = c, 1.0
        for i in range(1, a.iterations):
            if i == 1:
                y = c
                t_next = (5 ** 0.5 + 1) / 2
            else:
                t_next = ((1 + 4 * t * t) ** 0.5 + 1) / 2
                y = c + (t - 1) / t_next * (c - c_prev)
            c_prev, t = c, t_next
            c = prox(y + step * F.conv2d(inp - F.conv_transpose2d(y, w, padding=pad), w, padding=pad))
        return c

    def forward():
        with torch.no_grad():
            layer(x)

    def forward_backward():
        weight.grad = None
        xg.grad = None
        layer(xg).sum().backward()

    def median_ms(fn, repeats):
        fn()  # warm-up
        ms = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ms.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ms)

    forward()
    with open("/proc/self/clear_refs", "w") as f:  # VmHWM := VmRSS (Linux ≥ 4.0)
        f.write("5")
    before = rss_mib()
    forward_backward()
    peak = max(0.0, hwm_mib() - before)
    r = {
        "reference": "authors' DictBlock formulation (Python, PyTorch " + torch.__version__ + ")",
        "threads": torch.get_num_threads(),
        "shape": {"in": a.cin, "out": a.cout, "kernel": a.kernel, "size": a.size,
                  "batch": a.batch, "iterations": a.iterations},
        "forward_ms": median_ms(forward, a.repeats),
        "forward_backward_ms": median_ms(forward_backward, a.repeats),
        "peak_mib": peak,
    }
    print(json.dumps(r))


if __name__ == "__main__":
    main()
