#!/usr/bin/python3
"""Where a PyTorch training step's time goes, layer by layer: the twin of flopslab's own step
profile (bench/training/twin_profile.h) on the same model, batch, optimizer and threads. One
fixed batch of random images in [0, 1) with random labels, Adam at 1e-3, as flopslab's
TrainingStepper; the newest PyTorch here (scripts/setup-peers), else this python3's.

    scripts/torch_step_profile.py --model mlp|cnn [--batch 64] [--threads 2] [--steps 200] [--json]

Two passes. The first times whole steps with nothing attached (the step's median), and the
optimizer's step and the backward alone within them. The second attaches forward and
gradient hooks to each layer of the Sequential and sums each layer's forward and backward
time; hooks cost a few microseconds per layer, so the hooked step's median is given too."""

import argparse
import json
import statistics
import sys
import time

import newest_torch

newest_torch.reexec("FLOPSLAB_TWIN_NO_VENV")

try:
    import torch
    import torch.nn as nn
    from twin_models import make_model
except ImportError as e:
    sys.exit(f"torch_step_profile: {e} (scripts/setup-peers for the newest PyTorch, or sudo apt-get install python3-torch)")


class LayerClock:
    """Per-layer forward and backward seconds, summed over the steps it watched. Forward: hooks
    before and after each layer. Backward: a gradient hook on each layer's output marks when
    that layer's backward starts, which is when the layer after it finished; the first
    layer's backward ends with loss.backward(). Module backward hooks would wrap every layer in
    extra autograd nodes and cost about 30% of the step."""

    def __init__(self, model):
        self.layers = list(model.children())
        self.forward = [0.0] * len(self.layers)
        self.backward = [0.0] * len(self.layers)
        self.started = [0.0] * len(self.layers)
        self.backward_started = [None] * len(self.layers)
        for i, layer in enumerate(self.layers):
            layer.register_forward_pre_hook(lambda m, inputs, i=i: self.start(i))
            layer.register_forward_hook(lambda m, inputs, output, i=i: self.forward_done(i, output))

    def start(self, i):
        self.started[i] = time.perf_counter()

    def forward_done(self, i, output):
        self.forward[i] += time.perf_counter() - self.started[i]
        if output.requires_grad:
            output.register_hook(lambda grad, i=i: self.mark_backward(i))

    def mark_backward(self, i):
        self.backward_started[i] = time.perf_counter()

    def backward_done(self):
        """Called after loss.backward(): turns the marks into each layer's backward time."""
        end = time.perf_counter()  # layer i's backward runs from its mark to layer i-1's
        for i in range(len(self.layers)):
            if self.backward_started[i] is not None:
                self.backward[i] += end - self.backward_started[i]
                end = self.backward_started[i]
        self.backward_started = [None] * len(self.layers)

    def reset(self):
        self.forward = [0.0] * len(self.layers)
        self.backward = [0.0] * len(self.layers)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["mlp", "cnn"], default="cnn")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=200, help="timed steps in each pass (after 20 warm-up steps)")
    p.add_argument("--json", action="store_true", help="end with one JSON object of the results")
    a = p.parse_args()
    if a.batch < 1 or a.steps < 1 or a.threads < 1:
        sys.exit("torch_step_profile: --batch, --steps and --threads must be at least 1")
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = make_model(a.model)
    model.train()
    x = torch.rand(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    clock = None

    def step(parts=None):
        started = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        backward_started = time.perf_counter()
        loss.backward()
        if clock is not None:
            clock.backward_done()
        optimizer_started = time.perf_counter()
        opt.step()
        ended = time.perf_counter()
        loss.item()
        if parts is not None:
            parts["step"].append(ended - started)
            parts["backward"].append(optimizer_started - backward_started)
            parts["optimizer"].append(ended - optimizer_started)

    for _ in range(20):
        step()
    plain = {"step": [], "backward": [], "optimizer": []}
    for _ in range(a.steps):
        step(plain)

    clock = LayerClock(model)
    for _ in range(5):
        step()
    clock.reset()
    hooked = {"step": [], "backward": [], "optimizer": []}
    for _ in range(a.steps):
        step(hooked)

    ms = lambda seconds: 1e3 * seconds
    median_ms = lambda values: ms(statistics.median(values))
    layers = [{"layer": type(layer).__name__, "forward_ms": ms(f / a.steps), "backward_ms": ms(b / a.steps)}
              for layer, f, b in zip(clock.layers, clock.forward, clock.backward)]
    result = {"torch": torch.__version__, "model": a.model, "batch": a.batch, "threads": torch.get_num_threads(),
              "steps": a.steps, "step_ms": median_ms(plain["step"]), "backward_ms": median_ms(plain["backward"]),
              "optimizer_ms": median_ms(plain["optimizer"]), "hooked_step_ms": median_ms(hooked["step"]),
              "layers": layers}
    print(f"torch {torch.__version__}, {result['threads']} thread(s), model {a.model}, batch {a.batch}: "
          f"step {result['step_ms']:.3f} ms (backward {result['backward_ms']:.3f}, Adam {result['optimizer_ms']:.3f}); "
          f"with hooks {result['hooked_step_ms']:.3f} ms")
    for i, layer in enumerate(layers):
        print(f"  {i:2d} {layer['layer']:12s} forward {layer['forward_ms']:.3f} ms, backward {layer['backward_ms']:.3f} ms")
    if a.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
