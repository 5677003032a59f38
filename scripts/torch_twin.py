#!/usr/bin/python3
"""The PyTorch twin of `flopslab train`: the same models, data, optimizer, batch size and thread
count, for the throughput and accuracy comparison. It runs on the newest PyTorch here:
scripts/setup-peers's virtual environment (.peers/torch, PyPI) when it exists, else this
python3's (Debian's python3-torch).

    scripts/torch_twin.py --model mlp|cnn [--epochs 5] [--batch 64] [--lr 0.003] [--threads 2]
                          [--seed 0] [--data /usr/share/datasets/fashion-mnist] [--train-limit N]
                          [--test-limit N] [--json]

Prints one line per epoch: train loss, test accuracy, training samples per second (the same
definition as flopslab's: samples over the wall time of the epoch's training steps); with
--json, one JSON object at the end as well."""

import argparse
import gzip
import json
import os
import struct
import sys
import time

import newest_torch

newest_torch.reexec("FLOPSLAB_TWIN_NO_VENV")

try:
    import numpy as np
    import torch
    import torch.nn as nn
    from twin_models import make_model
except ImportError as e:
    sys.exit(f"torch_twin: {e} (scripts/setup-peers for the newest PyTorch, or sudo apt-get install python3-torch)")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, kind, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 8:
        sys.exit(f"torch_twin: {path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load(directory, split):
    images = read_idx(os.path.join(directory, f"{split}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    labels = read_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--train-limit", type=int, default=0)
    p.add_argument("--test-limit", type=int, default=0)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: train on the GPU (cuDNN benchmark mode on); batches are copied from the host each "
                        "step, as flopslab train --device cuda does")
    p.add_argument("--json", action="store_true", help="end with one JSON object of the results")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    x, y = load(a.data, "train")
    tx, ty = load(a.data, "t10k")
    if a.train_limit:
        x, y = x[:a.train_limit], y[:a.train_limit]
    if a.test_limit:
        tx, ty = tx[:a.test_limit], ty[:a.test_limit]
    mean, std = x.mean(), x.std()
    x, tx = (x - mean) / std, (tx - mean) / std
    device = torch.device(a.device)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("torch_twin: --device cuda: this PyTorch sees no GPU")
        torch.backends.cudnn.benchmark = True
    model = make_model(a.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), model {a.model}, batch {a.batch}, "
          f"device {a.device}")
    epochs = []
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(y))
        steps = len(y) // a.batch  # drop_last, as flopslab's loader
        total = 0.0
        start = time.perf_counter()
        for s in range(steps):
            idx = order[s * a.batch:(s + 1) * a.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx].to(device)), y[idx].to(device))
            loss.backward()
            opt.step()
            total += loss.item()  # one synchronisation per step, as flopslab's loss read-back
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            accuracy = (model(tx.to(device)).argmax(1).cpu() == ty).float().mean().item()
        print(f"epoch {epoch + 1}: train loss {total / steps:.4f}, test accuracy {100 * accuracy:.2f}%, "
              f"{steps * a.batch / seconds:.0f} samples/s")
        epochs.append({"epoch": epoch + 1, "train_loss": total / steps, "test_accuracy": accuracy,
                       "samples_per_s": steps * a.batch / seconds, "seconds": seconds})
    if a.json:
        print(json.dumps({"torch": torch.__version__, "device": a.device, "threads": torch.get_num_threads(), "model": a.model,
                          "batch": a.batch, "train_samples": len(y), "test_samples": len(ty), "epochs": epochs}))


if __name__ == "__main__":
    main()
