#!/usr/bin/env python3
"""Writes tests/fixtures/torch_schedules.json: the learning rate (and momentum) that PyTorch's
schedulers give at every position for the settings below, which the C++ tests compare
nn/schedule.h with (relative 1e-6). Run it after changing a case; the file is committed, so
the tests need no PyTorch. Uses the newest PyTorch it finds: scripts/setup-peers's virtual
environment, else this python3's torch.

    scripts/make_schedule_fixtures.py [OUT]     [tests/fixtures/torch_schedules.json]

Each case names our schedule description ("spec", as a recipe writes it), the parameter
groups' base learning rates, the optimizer, the metric fed to ReduceLROnPlateau, and the
values at positions 0..N-1 (position t: after t calls of step())."""

import json
import math
import os
import sys

import newest_torch

newest_torch.reexec("FLOPSLAB_FIXTURES_NO_VENV")
here = os.path.dirname(os.path.abspath(__file__))

try:
    import torch
    from torch.optim import lr_scheduler as S
except ImportError as e:
    sys.exit(f"make_schedule_fixtures: {e} (run scripts/setup-peers, or sudo apt-get install python3-torch)")


def optimizer(kind, base_lrs):
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in base_lrs]
    if kind == "adam":
        return torch.optim.Adam(groups, lr=base_lrs[0])
    return torch.optim.SGD(groups, lr=base_lrs[0], momentum=0.9)


def momentum_of(opt, kind):
    return [g["betas"][0] if kind == "adam" else g["momentum"] for g in opt.param_groups]


def build(spec, opt, positions):
    """PyTorch's scheduler for one of our specs (the mapping nn/schedule.h documents)."""
    t = spec["type"]
    if "warmup" in spec:
        w = spec["warmup"]
        inner_spec = {k: v for k, v in spec.items() if k != "warmup"}
        iters, start = w["iters"], w.get("start_factor", 1 / 3)
        if w.get("type", "linear") == "linear":
            first = S.LinearLR(opt, start_factor=start, end_factor=1.0, total_iters=iters)
        else:
            first = S.LambdaLR(opt, lambda e: start ** (1 - min(e, iters) / iters))
        second = build(inner_spec, opt, positions - iters)
        return S.SequentialLR(opt, [first, second], milestones=[iters])
    if t == "step":
        return S.StepLR(opt, step_size=spec["step_size"], gamma=spec.get("gamma", 0.1))
    if t == "multistep":
        return S.MultiStepLR(opt, milestones=spec["milestones"], gamma=spec.get("gamma", 0.1))
    if t == "exponential":
        return S.ExponentialLR(opt, gamma=spec["gamma"])
    if t == "cosine":
        return S.CosineAnnealingLR(opt, T_max=spec.get("t_max", positions), eta_min=spec.get("eta_min", 0))
    if t == "polynomial":
        return S.PolynomialLR(opt, total_iters=spec.get("total_iters", positions), power=spec.get("power", 0.9))
    if t == "plateau":
        return S.ReduceLROnPlateau(opt, mode=spec.get("mode", "min"), factor=spec.get("factor", 0.1),
                                   patience=spec.get("patience", 10), threshold=spec.get("threshold", 1e-4),
                                   threshold_mode=spec.get("threshold_mode", "rel"), cooldown=spec.get("cooldown", 0),
                                   min_lr=spec.get("min_lr", 0), eps=spec.get("eps", 1e-8))
    if t == "warm-restarts":
        return S.CosineAnnealingWarmRestarts(opt, T_0=spec["t_0"], T_mult=spec.get("t_mult", 1),
                                             eta_min=spec.get("eta_min", 0))
    if t == "onecycle":
        max_lrs = [g["lr"] for g in opt.param_groups]
        return S.OneCycleLR(opt, max_lr=max_lrs, total_steps=spec.get("total_steps", positions),
                            pct_start=spec.get("pct_start", 0.3),
                            anneal_strategy=spec.get("anneal", "cos"),
                            cycle_momentum=spec.get("cycle_momentum", True),
                            base_momentum=spec.get("base_momentum", 0.85), max_momentum=spec.get("max_momentum", 0.95),
                            div_factor=spec.get("div_factor", 25.0), final_div_factor=spec.get("final_div_factor", 1e4),
                            three_phase=spec.get("three_phase", False))
    raise ValueError(t)


def plateau_metric(n, kind):
    """A validation loss that falls, then stalls with noise, then falls a little again."""
    values = []
    for e in range(n):
        base = 2.0 * math.exp(-e / 6) + 0.3 if e < 25 else 0.3 + 2.0 * math.exp(-25 / 6) - 0.002 * (e - 25)
        if 40 <= e < 60:
            base += 0.05
        noise = 0.01 * math.sin(1.7 * e) * math.cos(0.3 * e)
        values.append(base + noise if kind == "min" else 1.0 - base - noise)
    return values


CASES = [
    ("step", {"type": "step", "step_size": 7, "gamma": 0.5}, [0.1, 0.03], "sgd", 120),
    ("multistep", {"type": "multistep", "milestones": [30, 80, 150], "gamma": 0.2}, [0.1, 0.004], "sgd", 200),
    ("exponential", {"type": "exponential", "gamma": 0.98}, [0.1, 0.02], "sgd", 200),
    ("cosine past T_max", {"type": "cosine", "t_max": 120, "eta_min": 1e-4}, [0.1, 0.01], "sgd", 300),
    ("polynomial 0.9", {"type": "polynomial", "total_iters": 150, "power": 0.9}, [0.05, 0.01], "sgd", 200),
    ("plateau min rel", {"type": "plateau", "mode": "min", "factor": 0.5, "patience": 3, "threshold": 0.01,
                         "cooldown": 2, "min_lr": 1e-3}, [0.1, 0.002], "sgd", 90),
    ("plateau max abs", {"type": "plateau", "mode": "max", "factor": 0.3, "patience": 2, "threshold": 0.003,
                         "threshold_mode": "abs", "min_lr": 1e-4}, [0.05, 0.05], "adam", 90),
    ("warm restarts", {"type": "warm-restarts", "t_0": 10, "t_mult": 2, "eta_min": 1e-4}, [0.1, 0.05], "sgd", 300),
    ("warm restarts T_mult 1", {"type": "warm-restarts", "t_0": 37, "eta_min": 0.002}, [0.2, 0.05], "sgd", 200),
    ("onecycle cos sgd", {"type": "onecycle", "pct_start": 0.3}, [0.1, 0.05], "sgd", 250),
    ("onecycle linear adam", {"type": "onecycle", "pct_start": 0.25, "anneal": "linear", "div_factor": 10,
                              "final_div_factor": 100, "base_momentum": 0.8, "max_momentum": 0.9},
     [0.003, 0.0003], "adam", 300),
    ("onecycle three phase", {"type": "onecycle", "pct_start": 0.4, "three_phase": True, "total_steps": 210},
     [0.2, 0.02], "sgd", 200),
    ("linear warmup then cosine", {"type": "cosine", "eta_min": 1e-5,
                                   "warmup": {"type": "linear", "iters": 20, "start_factor": 0.1}},
     [0.1, 0.01], "sgd", 200),
    ("exponential warmup then step", {"type": "step", "step_size": 40, "gamma": 0.3,
                                      "warmup": {"type": "exponential", "iters": 15, "start_factor": 0.01}},
     [0.4, 0.04], "sgd", 200),
    ("linear warmup then polynomial", {"type": "polynomial", "power": 0.9, "total_iters": 170,
                                       "warmup": {"type": "linear", "iters": 30}}, [0.02, 0.2], "adam", 200),
]


def run_case(name, spec, base_lrs, kind, positions):
    opt = optimizer(kind, base_lrs)
    sched = build(spec, opt, positions)
    metric = plateau_metric(positions, spec.get("mode", "min")) if spec["type"] == "plateau" else None
    lrs, moms = [], []
    for t in range(positions):
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append(momentum_of(opt, kind))
        opt.step()
        if metric is not None:
            sched.step(metric[t])
        else:
            sched.step()
    out = {"name": name, "spec": spec, "base_lrs": base_lrs, "optimizer": kind, "positions": positions, "lr": lrs}
    if spec["type"] == "onecycle":
        out["momentum"] = moms
    if metric is not None:
        out["metric"] = metric
    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "fixtures", "torch_schedules.json")
    import warnings
    warnings.simplefilter("ignore")
    doc = {"written_by": "scripts/make_schedule_fixtures.py", "torch": torch.__version__,
           "cases": [run_case(*c) for c in CASES]}
    with open(out, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out}: {len(doc['cases'])} cases, torch {torch.__version__}")


if __name__ == "__main__":
    main()
