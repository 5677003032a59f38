"""The PyTorch twins of nn::make_model's models (nn/train.cpp), layer for layer, for
scripts/torch_twin.py (training) and scripts/torch_infer_twin.py (inference)."""

import torch
import torch.nn as nn


def conv_bn_relu(c, k, r, s, relu=True):
    layers = [nn.Conv2d(c, k, (r, s), padding=(r // 2, s // 2)), nn.BatchNorm2d(k)]
    return layers + [nn.ReLU()] if relu else layers


class Concat(nn.Module):
    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], dim=1)


class Residual(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def make_model(name, classes=10):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, classes))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, classes))
    if name == "inception":  # nn/train.cpp's add_inception_model
        block = Concat(nn.Sequential(*conv_bn_relu(24, 16, 1, 1)),
                       nn.Sequential(*conv_bn_relu(24, 16, 1, 1), *conv_bn_relu(16, 24, 3, 3)),
                       nn.Sequential(*conv_bn_relu(24, 8, 1, 1), *conv_bn_relu(8, 8, 1, 7), *conv_bn_relu(8, 16, 7, 1)),
                       nn.Sequential(nn.MaxPool2d(3, 1, 1), *conv_bn_relu(24, 8, 1, 1)))
        return nn.Sequential(*conv_bn_relu(1, 24, 3, 3), nn.MaxPool2d(2), block, nn.MaxPool2d(2),
                             Residual(nn.Sequential(*conv_bn_relu(64, 64, 3, 3), *conv_bn_relu(64, 64, 3, 3, False))),
                             nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes))
    raise ValueError(f"no twin for model {name!r} (mlp, cnn, inception)")
