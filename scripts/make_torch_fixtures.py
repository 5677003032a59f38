#!/usr/bin/python3
"""Writes tests/fixtures/torch_reference.txt: small fixed inputs run through PyTorch's layers,
losses and optimizers (the newest PyTorch here: scripts/setup-peers's, else Debian's python3-torch), with the outputs and gradients the C++ tests
compare nn/ against. Run once after changing a case; the file is committed, so the tests need
no PyTorch.

    scripts/make_torch_fixtures.py [OUT]     [tests/fixtures/torch_reference.txt]

Format: one "case NAME" line, then "tensor NAME RANK DIMS... VALUES..." lines (float32 values
printed with 9 significant digits), then "end"."""

import os
import sys

import newest_torch

newest_torch.reexec()

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    sys.exit(f"make_torch_fixtures: {e} (sudo apt-get install python3-torch)")

torch.manual_seed(1234)
out_lines = []


def tensor(name, t):
    t = t.detach().contiguous().float()
    dims = " ".join(str(d) for d in t.shape)
    values = " ".join(f"{v:.9g}" for v in t.flatten().tolist())
    out_lines.append(f"tensor {name} {t.dim()} {dims} {values}".replace("  ", " "))


def case(name):
    out_lines.append(f"case {name}")


def end():
    out_lines.append("end")


def layer_case(name, layer, x, params=()):
    """x, the layer's parameters, an upstream gradient g; y = layer(x), dx, d<param>."""
    case(name)
    x = x.clone().requires_grad_(True)
    tensor("x", x)
    for p in params:
        tensor(p, getattr(layer, p))
    y = layer(x)
    g = torch.randn_like(y)
    y.backward(g)
    tensor("g", g)
    tensor("y", y)
    tensor("dx", x.grad)
    for p in params:
        tensor("d" + p, getattr(layer, p).grad)
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        tensor("running_mean", layer.running_mean)
        tensor("running_var", layer.running_var)
    end()


layer_case("linear", nn.Linear(5, 3), torch.randn(4, 5), ("weight", "bias"))
layer_case("conv2d", nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.randn(2, 3, 7, 6), ("weight", "bias"))
layer_case("conv2d_grouped", nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1), groups=2),
           torch.randn(2, 4, 8, 5), ("weight", "bias"))
layer_case("conv2d_1x7", nn.Conv2d(2, 3, (1, 7), padding=(0, 3)), torch.randn(1, 2, 5, 9), ("weight", "bias"))
bn = nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.copy_(torch.tensor([0.5, 1.5, -1.0]))
    bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
layer_case("batchnorm2d_train", bn, torch.randn(4, 3, 3, 2) * 2 + 1, ("weight", "bias"))
bn1 = nn.BatchNorm1d(4)
with torch.no_grad():
    bn1.running_mean.copy_(torch.tensor([0.1, -0.3, 0.5, 0.0]))
    bn1.running_var.copy_(torch.tensor([1.2, 0.7, 2.0, 0.9]))
    bn1.weight.copy_(torch.tensor([1.1, 0.9, -0.5, 2.0]))
bn1.eval()
case_input = torch.randn(5, 4)
layer_case("batchnorm1d_eval", bn1, case_input, ("weight", "bias"))
for name, act in [("relu", nn.ReLU()), ("leaky_relu", nn.LeakyReLU(0.1)), ("relu6", nn.ReLU6()), ("sigmoid", nn.Sigmoid()),
                  ("tanh", nn.Tanh()), ("softplus", nn.Softplus())]:
    layer_case(name, act, torch.randn(3, 7) * 4)
layer_case("maxpool2d", nn.MaxPool2d(2, 2), torch.randn(2, 3, 6, 5))
layer_case("avgpool2d_pad", nn.AvgPool2d(3, 2, padding=1), torch.randn(2, 2, 7, 6))
class Shuffle(nn.Module):  # nn.ChannelShuffle has no backward in torch 1.13; the same permutation by views
    def forward(self, t):
        n, c, h, w = t.shape
        return t.view(n, 3, c // 3, h, w).transpose(1, 2).reshape(n, c, h, w)


layer_case("channel_shuffle", Shuffle(), torch.randn(2, 6, 2, 3))

layer_case("global_avg_pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), torch.randn(2, 3, 4, 5))

logits = torch.randn(6, 5) * 2
labels = torch.tensor([0, 4, 2, 2, 1, 3])


def loss_case(name, fn, inp):
    case(name)
    inp = inp.clone().requires_grad_(True)
    tensor("x", inp)
    tensor("labels", labels.float())
    loss = fn(inp)
    loss.backward()
    tensor("loss", loss.reshape(1))
    tensor("dx", inp.grad)
    end()


weights = torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0])
loss_case("cross_entropy", lambda t: F.cross_entropy(t, labels), logits)
loss_case("cross_entropy_weighted", lambda t: F.cross_entropy(t, labels, weight=weights), logits)  # weights: test
loss_case("nll", lambda t: F.nll_loss(t, labels), F.log_softmax(logits, 1))
soft = F.one_hot(labels, 5).float() * 0.7 + 0.3 / 5
case("soft_cross_entropy")
soft_logits = logits.clone().requires_grad_(True)
tensor("x", soft_logits)
tensor("targets", soft)
soft_loss = F.cross_entropy(soft_logits, soft)
soft_loss.backward()
tensor("loss", soft_loss.reshape(1))
tensor("dx", soft_logits.grad)
end()
loss_case("mse", lambda t: F.mse_loss(t, F.one_hot(labels, 5).float()), logits)
loss_case("multi_margin", lambda t: F.multi_margin_loss(t, labels), logits)


def optimizer_case(name, make):
    case(name)
    w = torch.randn(7, requires_grad=True)
    tensor("w0", w)
    opt = make([w])
    grads = torch.randn(3, 7)
    tensor("grads", grads)
    for step in range(3):
        opt.zero_grad()
        w.grad = grads[step].clone()
        opt.step()
    tensor("w3", w)
    end()


optimizer_case("sgd_momentum_wd", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01))
optimizer_case("sgd_nesterov", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True))
optimizer_case("adam_wd", lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1))
optimizer_case("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1))
optimizer_case("rmsprop", lambda p: torch.optim.RMSprop(p, lr=0.01))
optimizer_case("rmsprop_momentum_wd", lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.9, weight_decay=0.01))

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                                                            "torch_reference.txt")
with open(path, "w") as f:
    f.write(f"# written by scripts/make_torch_fixtures.py with torch {torch.__version__}\n")
    f.write("\n".join(out_lines) + "\n")
print(f"wrote {path}")
