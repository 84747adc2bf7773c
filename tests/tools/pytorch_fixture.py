"""Fixtures for the PyTorch interop tests (tests/tools/interop_test.cpp),
built with Debian's python3-torch, never downloaded.

The modules below reproduce the *names and shapes* of the authors' PyTorch
modules (github Delay-Xili/SDNet Lib/models/{resnet,sdnet,sdnet_inverse}.py,
kevtimova/deep-sparse models/{linear_dictionary,one_hidden_decoder,
lista_encoder}.py) with a width parameter to keep them small; the ResNet and
the decoders also reproduce the forward pass, so the test can compare outputs.

  make MODEL DIR          write DIR/authors.pth (VDL: enc.pth, dec.pth) and
                          DIR/x.npy, DIR/y.npy: an input and the module's output
  check MODEL DIR FILE    load FILE (a `sparseloop export`) with torch.load and
                          load_state_dict(strict=True) into the module; every
                          tensor must equal DIR/authors.pth's
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

WIDTH, CLASSES = 8, 10


class DictBlock(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.register_buffer("step_size", torch.tensor(0.1))


LAMBDA, STEPS = 0.1, 2  # the authors' experiments/cifar10.yaml (and our cifar10-sdnet preset)


class DictConv2d(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.dn = DictBlock(cin, cout, k)

    def forward(self, x):
        # Lib/models/csc_layer.py DictBlock, stride 1, padding k//2, non-negative
        # codes: unit-norm atoms, step 0.9/L (L by power iteration on DᵀD, run
        # here to convergence), then FISTA whose first two steps are ISTA steps.
        w = self.dn.weight
        w = w / w.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        pad = w.size(-1) // 2
        v = torch.randn(1, w.size(0), x.size(-2), x.size(-1), generator=torch.Generator().manual_seed(1))
        for _ in range(2000):
            v = F.conv2d(F.conv_transpose2d(v, w, padding=pad), w, padding=pad)
            v = v / v.norm()
        L = (F.conv_transpose2d(v, w, padding=pad) ** 2).sum().item()
        step = 0.9 / L
        prox = lambda u: F.relu(F.softshrink(u, LAMBDA * step))
        c = prox(step * F.conv2d(x, w, padding=pad))
        c_prev, t = c, 1.0
        for i in range(1, STEPS):
            if i == 1:
                a = c
                t_next = (5 ** 0.5 + 1) / 2
            else:
                t_next = ((1 + 4 * t * t) ** 0.5 + 1) / 2
                a = c + (t - 1) / t_next * (c - c_prev)
            c_prev, t = c, t_next
            c = prox(a + step * F.conv2d(x - F.conv_transpose2d(a, w, padding=pad), w, padding=pad))
        return c


def conv(csc, cin, cout, k, stride, padding):
    if csc:
        return DictConv2d(cin, cout, k)
    return nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride, csc):
        super().__init__()
        self.conv1 = conv(csc, cin, planes, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(csc, planes, planes, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):  # the ResNet block (resnet.py)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Stage(nn.Module):  # sdnet_inverse.py's _make_layer module
    def __init__(self, blocks):
        super().__init__()
        self.layers = nn.Sequential(*blocks)


class ResNet(nn.Module):
    def __init__(self, kind):
        super().__init__()
        every = kind.endswith("-all")
        csc_stem = kind.startswith("sdnet")
        stem = [conv(csc_stem, 3, WIDTH, 3, 1, 1), nn.BatchNorm2d(WIDTH)]
        self.layer0 = nn.Sequential(*(stem if csc_stem else stem + [nn.ReLU(inplace=True)]))
        cin = WIDTH
        for s, (mult, stride) in enumerate([(1, 1), (2, 2), (4, 2), (8, 2)]):
            blocks = []
            for b in range(2):
                blocks.append(BasicBlock(cin, WIDTH * mult, stride if b == 0 else 1, every))
                cin = WIDTH * mult
            setattr(self, f"layer{s + 1}", Stage(blocks) if every else nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear = nn.Linear(8 * WIDTH, CLASSES)

    def forward(self, x):  # resnet.py's forward
        out = self.layer0(x)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(self.avgpool(out), 1))


class Encoder(nn.Module):  # lista_encoder.py
    def __init__(self, d, l):
        super().__init__()
        self.W = nn.Linear(d, l, bias=True)
        self.S = nn.Linear(l, l, bias=False)


class LinearDecoder(nn.Module):  # linear_dictionary.py
    def __init__(self, l, d):
        super().__init__()
        self.decoder = nn.Linear(l, d, bias=False)

    def forward(self, z):
        return self.decoder(z)


class HiddenDecoder(nn.Module):  # one_hidden_decoder.py
    def __init__(self, l, h, d):
        super().__init__()
        self.layer1 = nn.Linear(l, h, bias=True)
        self.layer2 = nn.Linear(h, d, bias=False)

    def forward(self, z):
        return self.layer2(F.relu(self.layer1(z)))


def modules(kind):
    if kind in ("vdl", "sdl"):
        return {"encoder": Encoder(784, 16), "decoder": LinearDecoder(16, 784)}
    if kind in ("vdl-nl", "sdl-nl"):
        return {"encoder": Encoder(784, 16), "decoder": HiddenDecoder(16, 24, 784)}
    return {"": ResNet(kind)}


def randomize(module):
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                if name.endswith("running_var"):
                    t.uniform_(0.5, 2.0)
                elif name.endswith("step_size"):
                    t.fill_(0.1)
                else:
                    t.normal_(0, 0.3)
            elif name.endswith("num_batches_tracked"):
                t.fill_(7)


def make(kind, out):
    torch.manual_seed(0)
    parts = modules(kind)
    for prefix, m in parts.items():
        randomize(m)
        m.eval()
        torch.save(m.state_dict(), f"{out}/{'authors' if not prefix else prefix[:3]}.pth")
    with torch.no_grad():
        if "" in parts:
            x = torch.rand(2, 3, 32, 32)
            # the -all models' blocks are not reproduced here (names only)
            y = parts[""](x) if not kind.endswith("-all") else torch.zeros(1)
        else:
            x = torch.rand(3, 16)
            y = parts["decoder"](x)
    np.save(f"{out}/x.npy", x.numpy())
    np.save(f"{out}/y.npy", y.numpy())


def check(kind, out, exported):
    got = torch.load(exported)
    assert isinstance(got, dict), type(got)
    for prefix, m in modules(kind).items():
        ref = torch.load(f"{out}/{'authors' if not prefix else prefix[:3]}.pth")
        lead = prefix + "." if prefix else ""
        mine = {k[len(lead):]: v for k, v in got.items() if k.startswith(lead)}
        m.load_state_dict(mine, strict=True)  # raises on a missing or unexpected name
        for name, t in ref.items():
            if name.endswith("step_size"):  # derived from our L, not copied
                assert mine[name].item() > 0, name
                continue
            assert torch.equal(mine[name], t), name
    print("ok", len(got))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4])
