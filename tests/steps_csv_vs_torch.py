#!/usr/bin/python3
"""steps.csv against PyTorch: `flopslab train` on a OneCycleLR recipe of 250 steps must log the
learning rate and momentum that PyTorch's scheduler gives at every step, to float precision
(tests/fixtures/torch_schedules.json, case 'onecycle cos sgd', written by PyTorch itself).

usage: tests/steps_csv_vs_torch.py BUILD/flopslab SCRATCH_DIR
"""
import csv
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    exe, scratch = sys.argv[1], sys.argv[2]
    out = os.path.join(scratch, "onecycle-250")
    # 2000 images at batch 8: one epoch of 250 steps.
    subprocess.run([exe, "train", "--model", "mlp", "--recipe", os.path.join(HERE, "fixtures/recipes/onecycle-250-steps.json"),
                    "--batch", "8", "--train-limit", "2000", "--test-limit", "100", "--threads", "1", "--no-progress",
                    "--no-plots", "--force", "--out", out], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(HERE, "fixtures/torch_schedules.json")) as f:
        case = next(c for c in json.load(f)["cases"] if c["name"] == "onecycle cos sgd")
    with open(os.path.join(out, "steps.csv")) as f:
        rows = list(csv.DictReader(f))
    if len(rows) != case["positions"]:
        sys.exit(f"steps.csv has {len(rows)} steps, PyTorch's schedule {case['positions']}")
    worst = 0.0
    for i, row in enumerate(rows):
        for column, torch in (("lr", case["lr"][i][0]), ("momentum", case["momentum"][i][0])):
            ours = float(row[column])
            error = abs(ours - torch) / abs(torch)
            worst = max(worst, error)
            # Within float32's unit roundoff: what 9 significant digits can show.
            if error > 2 ** -24:
                sys.exit(f"step {i + 1}: {column} {row[column]} in steps.csv, PyTorch {torch!r} ({error:.2e} apart)")
    print(f"{len(rows)} steps: lr and momentum within {worst:.2e} of PyTorch's OneCycleLR (bound 2^-24)")


if __name__ == "__main__":
    main()
