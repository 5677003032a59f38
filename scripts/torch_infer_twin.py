#!/usr/bin/python3
"""The PyTorch twin of `flopslab infer`: the same model (scripts/twin_models.py), freshly
initialised, in evaluation mode on random normalised 1x28x28 images, timed at each batch size
with the same thread count. Two forms:
  eager    model.eval() under torch.inference_mode(): one operator after another, as the
           unfused flopslab model runs;
  frozen   torch.jit.freeze + optimize_for_inference: PyTorch's own graph fusion (conv-BN
           folding, conv + ReLU through oneDNN), the counterpart of flopslab's fused plan.
It runs on the newest PyTorch here (scripts/setup-peers's .peers/torch, else python3's).

    scripts/torch_infer_twin.py --model cnn|inception [--batches 1,64] [--threads 2]
                                [--seconds 0.5] [--json]"""

import argparse
import json
import statistics
import sys
import time
import warnings

import newest_torch

newest_torch.reexec("FLOPSLAB_TWIN_NO_VENV")

try:
    import torch
    from twin_models import make_model
except ImportError as e:
    sys.exit(f"torch_infer_twin: {e} (scripts/setup-peers for the newest PyTorch, or sudo apt-get install python3-torch)")


def time_call(f, seconds):
    """Median and spread ((max - min) / median) of f's wall time: 3 warm-up calls, then
    repetitions for about `seconds` (at least 5)."""
    for _ in range(3):
        f()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return median, (max(times) - min(times)) / median


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["cnn", "inception"], default="cnn")
    p.add_argument("--batches", default="1,64", help="comma-separated batch sizes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=0.5, help="time spent on each measurement")
    p.add_argument("--json", action="store_true", help="end with one JSON object of the results")
    a = p.parse_args()
    try:
        batches = [int(b) for b in a.batches.split(",")]
    except ValueError:
        sys.exit(f"torch_infer_twin: --batches: '{a.batches}' is not a list of integers")
    if any(b < 1 for b in batches) or a.threads < 1 or a.seconds <= 0:
        sys.exit("torch_infer_twin: --batches, --threads and --seconds must be positive")
    # jit.freeze is deprecated in favour of torch.compile, which needs minutes of compilation
    # per shape on a small CPU; freeze is still PyTorch's CPU inference fusion.
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = make_model(a.model).eval()
    frozen, frozen_note = None, ""
    try:
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
    except Exception as e:  # older PyTorch or a model the scripter refuses: report, keep eager
        frozen_note = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), model {a.model}")
    rows = []
    for batch in batches:
        x = torch.randn(batch, 1, 28, 28)
        with torch.inference_mode():
            eager, eager_spread = time_call(lambda: model(x), a.seconds)
            row = {"batch": batch, "eager_ms": eager * 1e3, "eager_spread": eager_spread}
            if frozen is not None:
                got = frozen(x)
                want = model(x)
                row["frozen_relative_error"] = ((got - want).abs().max() / want.abs().max()).item()
                f, f_spread = time_call(lambda: frozen(x), a.seconds)
                row.update({"frozen_ms": f * 1e3, "frozen_spread": f_spread})
        print(f"batch {batch}: eager {row['eager_ms']:.3f} ms" +
              (f", frozen {row['frozen_ms']:.3f} ms" if "frozen_ms" in row else f", frozen: {frozen_note}"))
        rows.append(row)
    if a.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "model": a.model,
                          "frozen_note": frozen_note, "rows": rows}))


if __name__ == "__main__":
    main()
