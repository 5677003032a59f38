#!/usr/bin/python3
"""The READMEs as a test: every command line README.md and the lessons' READMEs show is run.

Each `flopslab ...`, `build/flopslab ...`, `scripts/...` and `mpirun ...` line of a code block,
and each such inline `code` span, is looked up in RUNS below. There it has its quick or
smallest form (--quick, one epoch on a few hundred images, a short --seconds), the files it
must write, and where it runs: from a fresh, empty working directory (with flopslab on PATH,
as an installed user has it) and from the repository root (as the README writes it, with
build/flopslab). A form that takes more than a few seconds and reads or writes nothing
relative to where it runs (the probes, a 4096^3 GEMM) runs from the fresh directory only. Each run must exit 0 and write its files. A command that cannot run here
(it needs a GPU, PyTorch, or is this test's own caller) is listed in SKIPS with the reason;
a lesson is run by its own test (cli.lesson_NN_quick, from a fresh directory too). A command
in no table fails the test: when a README gains a command, it gains a run here.

The repository root is mirrored: a temporary directory with build/, recipes/, scripts/,
lessons/, tests/ and the committed reports linked in, so that default outputs (runs/...,
reports/...) start from nothing, as in a fresh clone, and the checkout is left as it was.
scripts/report and scripts/setup run in the real root (their build must be the real one);
what they add under reports/ is removed afterwards.

usage: tests/readme_commands.py SOURCE_DIR BUILD_DIR [--list]
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# Placeholders a README uses that are not flopslab's own words.
REPORT = "reports/amd-epyc-2c-2026-12-01"
REPORT_B = "reports/intel-xeon-16c-h100-80gb-hbm3-2026-11-23"
TRAIN_QUICK = "--epochs 1 --train-limit 500 --test-limit 100"
GPU = "needs an NVIDIA GPU (scripts/gpu-check runs the GPU commands on one)"
TORCH = "needs PyTorch (scripts/setup-peers installs it; the tests never need it)"


class Run:
    """How a README command runs here: `command` (a shell line; `flopslab` is build/flopslab
    in the root and on PATH elsewhere), the files it writes (globs, relative to where it ran),
    and where: 'both', 'root' (it names files of the repository) or 'real-root'."""

    def __init__(self, command, writes=(), where="both", stdout=None):
        self.command, self.writes, self.where, self.stdout = command, list(writes), where, stdout


TRAIN_FILES = ["runs/{}/log.csv", "runs/{}/steps.csv", "runs/{}/checkpoint.bin", "runs/{}/curves.png"]


def train(args, run_name, where="both"):
    return Run(f"flopslab train {args}", [f.format(run_name) for f in TRAIN_FILES], where)


RUNS = {
    # README.md: the two commands of set-up, and the scripts beside them
    "scripts/report": Run("scripts/report --quick --no-progress",
                          ["reports/*/report.md", "reports/*/report.html", "reports/*/report.json"], "real-root"),
    "scripts/report --quick": Run("scripts/report --quick --no-progress",
                                  ["reports/*/report.md", "reports/*/report.html", "reports/*/report.json"], "real-root"),
    "scripts/setup": Run("scripts/setup", [], "real-root"),
    "scripts/plot": Run(f"cp -r {REPORT} plotted && scripts/plot plotted", ["plotted/gemm_ladder.png"], "root"),
    # The command line, as the synopsis lists it
    "flopslab": Run("flopslab", stdout="^New here\\? Run scripts/report first"),
    "flopslab --help": Run("flopslab --help", stdout="^New here\\? Run scripts/report first.*Subcommands:"),
    "flopslab COMMAND --help": Run(" && ".join(
        f"flopslab {c} --help > /dev/null" for c in
        "info probe gemm conv train lr-find infer demo allreduce scale report compare lesson course".split())),
    "build/flopslab info [--json FILE]": Run("flopslab info --json info.json", ["info.json"]),
    "flopslab info": Run("flopslab info", stdout="FP32 peak"),
    "build/flopslab probe NAME|all [--threads N] [--max-size 1G] [--json FILE] [--quick] [--no-peers]":
        Run("flopslab probe all --quick --no-progress --json probe.json", ["probe.json"], "fresh"),
    "build/flopslab probe flops": Run("flopslab probe flops --quick --no-progress", stdout="Peak FLOPS", where="fresh"),
    "build/flopslab probe latency --max-size 256M":
        Run("flopslab probe latency --max-size 256M --quick --no-progress", stdout="Memory latency", where="fresh"),
    "build/flopslab gemm [--device cpu|cuda] [--sizes 256,1024,1000x500x300] [--threads 1,2|all]":
        Run("flopslab gemm --quick --no-progress --sizes 256,1000x500x300 --threads 1,all --json gemm.json", ["gemm.json"]),
    "flopslab gemm": Run("flopslab gemm --quick --no-progress", stdout="best rung"),
    "build/flopslab gemm --threads 1,all": Run("flopslab gemm --threads 1,all --quick --no-progress", stdout="best rung"),
    "build/flopslab gemm --sizes 1000,1024 --variants naive,loop-order":
        Run("flopslab gemm --sizes 1000,1024 --variants naive,loop-order --quick --no-progress", stdout="loop-order"),
    "build/flopslab gemm --sizes 4096 --threads 1,2,4,8 --variants openmp,onednn":
        Run("flopslab gemm --sizes 4096 --threads 1,2,4,8 --variants openmp,onednn --quick --no-progress",
            stdout="openmp", where="fresh"),
    "build/flopslab conv [--shape N,C,H,W,K,R,S[,stride,pad,dilation,groups]]... [--impl all|LIST]":
        Run("flopslab conv --quick --no-progress --shape 2,16,14,14,16,3,3,1,1 --impl all --json conv.json", ["conv.json"]),
    "flopslab conv": Run("flopslab conv --quick --no-progress", stdout="onednn"),
    "flopslab conv --impl per-shape": Run("flopslab conv --impl per-shape --quick --no-progress", stdout="per-shape"),
    "build/flopslab train [--model mlp|mlp-dropout|cnn|cnn-nobn|inception] [--epochs 5] [--batch 64] [--optimizer adam] [--lr 0.003]":
        train(f"--model cnn {TRAIN_QUICK}", "cnn-adam-seed0"),
    "flopslab train": train(TRAIN_QUICK, "mlp-adam-seed0"),
    "flopslab train --optimizer sgd": train(f"--optimizer sgd {TRAIN_QUICK}", "mlp-sgd-seed0"),
    "flopslab train --model cnn": train(f"--model cnn {TRAIN_QUICK}", "cnn-adam-seed0"),
    "flopslab train --model cnn --epochs 5": train(f"--model cnn {TRAIN_QUICK}", "cnn-adam-seed0"),
    "flopslab train --recipe": train("--recipe recipes/step-decay.json --train-limit 320 --test-limit 100",
                                     "mlp-step-decay-seed0", "root"),
    "flopslab train --recipe recipes/onecycle.json":
        train("--recipe recipes/onecycle.json --train-limit 320 --test-limit 100", "mlp-onecycle-seed0", "root"),
    "flopslab train --workers N": train(f"--workers 2 {TRAIN_QUICK}", "mlp-adam-seed0"),
    "flopslab train --model mlp --flip --crop-padding 2 --jitter 0.5,1.5 --mixup 0.2 --workers 0":
        train(f"--model mlp --flip --crop-padding 2 --jitter 0.5,1.5 --mixup 0.2 --workers 0 {TRAIN_QUICK}",
              "mlp-adam-seed0"),
    "flopslab train --model cnn --precision fp16 --loss-scale none":
        train(f"--model cnn --precision fp16 --loss-scale none {TRAIN_QUICK}", "cnn-adam-seed0"),
    "flopslab train --model cnn --checkpoint-segments sqrt --profile":
        train(f"--model cnn --checkpoint-segments sqrt --profile {TRAIN_QUICK}", "cnn-adam-seed0"),
    "flopslab train --model mlp --batch 16 --accumulate 4":
        train(f"--model mlp --batch 16 --accumulate 4 {TRAIN_QUICK}", "mlp-adam-seed0"),
    "mpirun -np N flopslab train --distributed ...":
        Run(f"mpirun -np 2 --oversubscribe flopslab train --distributed {TRAIN_QUICK}",
            [f.format("mlp-adam-seed0") for f in TRAIN_FILES]),
    "mpirun -n N flopslab train --distributed":
        Run(f"mpirun -n 2 --oversubscribe flopslab train --distributed {TRAIN_QUICK}",
            [f.format("mlp-adam-seed0") for f in TRAIN_FILES]),
    "mpirun -n 2 flopslab train --distributed --bucket-kb 64":
        Run(f"mpirun -n 2 --oversubscribe flopslab train --distributed --bucket-kb 64 {TRAIN_QUICK}",
            [f.format("mlp-adam-seed0") for f in TRAIN_FILES]),
    "build/flopslab lr-find [--model cnn] [--optimizer sgd] [--start-lr 1e-7] [--end-lr 10] [--steps 200] [--out DIR]":
        Run("flopslab lr-find --model mlp --steps 40 --train-limit 2000 --no-progress",
            ["runs/lr-find-mlp-sgd/lr_find.csv", "runs/lr-find-mlp-sgd/lr_find.png"]),
    "flopslab lr-find": Run("flopslab lr-find --steps 40 --train-limit 2000 --no-progress",
                            ["runs/lr-find-cnn-sgd/lr_find.csv", "runs/lr-find-cnn-sgd/lr_find.json"]),
    "flopslab lr-find --model cnn": Run("flopslab lr-find --model cnn --steps 40 --train-limit 2000 --no-progress",
                                        ["runs/lr-find-cnn-sgd/lr_find.csv", "runs/lr-find-cnn-sgd/lr_find.png"]),
    "build/flopslab infer [--model cnn|inception] [--checkpoint FILE] [--batch 64] [--threads N] [--json FILE] [--quick]":
        Run("flopslab infer --model inception --batch 8 --quick --no-peers --no-progress --json infer.json", ["infer.json"]),
    "flopslab infer": Run("flopslab infer --quick --no-peers --no-progress", stdout="batch 64"),
    "flopslab infer --model cnn|inception [--checkpoint FILE] [--batch N]":
        Run(f"flopslab train --model cnn {TRAIN_QUICK} --no-progress > /dev/null && "
            "flopslab infer --model cnn --checkpoint runs/cnn-adam-seed0/checkpoint.bin --batch 16 --quick --no-peers",
            stdout="checkpoint runs/cnn-adam-seed0/checkpoint.bin"),
    "build/flopslab demo [--scene cores|gemm|train] [--seconds 5] [--size 512] [--threads N] [--plain] [--json FILE] [--quick]":
        Run("flopslab demo --scene gemm --seconds 0.5 --size 256 --plain --quick --json demo.json", ["demo.json"]),
    "flopslab demo": Run("flopslab demo --quick --seconds 0.5", stdout="Winner: "),
    "build/flopslab allreduce [--device cpu|cuda] [--ranks 2] [--max-bytes 64M] [--json FILE] [--quick]":
        Run("flopslab allreduce --ranks 2 --max-bytes 64K --quick --no-progress --json allreduce.json", ["allreduce.json"]),
    "flopslab allreduce": Run("flopslab allreduce --quick --max-bytes 64K --no-progress", stdout="Fitted to the all-reduce"),
    "build/flopslab scale [--ranks 8,64,1024] [--models mlp,cnn,resnet50] [--batch 32] [--link-gbps G [--latency-us U]]":
        Run("flopslab scale --ranks 8,64,1024 --models mlp,resnet50 --link-gbps 10 --quick --no-progress",
            ["runs/scale/scale.json", "runs/scale/scaling.png"]),
    "flopslab scale --ranks 8,64,1024": Run("flopslab scale --ranks 8,64,1024 --models mlp --quick --no-progress",
                                            ["runs/scale/scale.json", "runs/scale/scaling.png"]),
    "flopslab scale --link-gbps 10 --latency-us 20":
        Run("flopslab scale --link-gbps 10 --latency-us 20 --quick --no-progress", ["runs/scale/scale.json"]),
    "build/flopslab report [--out DIR] [--force] [--quick] [--no-plots] [--no-progress]":
        Run("flopslab report --quick --no-progress", ["reports/*/report.md", "reports/*/report.json"], "fresh"),
    "flopslab report": Run("flopslab report --quick --no-progress", ["reports/*/report.md", "reports/*/report.json"],
                           "fresh"),
    "flopslab compare A B": Run(f"flopslab compare {REPORT} {REPORT_B} --out compared",
                                ["compared/compare.md", "compared/compare.json"], "root"),
    "flopslab compare": Run(f"flopslab compare {REPORT} {REPORT_B} --out compared",
                            ["compared/compare.md", "compared/compare.json"], "root"),
    "build/flopslab roofline [--from DIR] [--device cpu|cuda] [--threads 1|all] [--json FILE] [--out DIR] [--quick]":
        Run(f"flopslab roofline --from {REPORT} --threads 1 --out roofline --json roofline.json",
            ["roofline/roofline.json", "roofline/roofline.png", "roofline.json"], "root"),
    # Measuring (cli.roofline_quick does, alone: roofs measured beside other tests come out low).
    "flopslab roofline": Run(f"flopslab roofline --from {REPORT} --out roofline",
                             ["roofline/roofline.json", "roofline/roofline.png"], "root", stdout="Furthest below their roof"),
    "flopslab roofline --out roofline": Run(f"flopslab roofline --from {REPORT} --out roofline",
                                            ["roofline/roofline.json", "roofline/roofline.png"], "root"),
    "scripts/check-layout": Run("scripts/check-layout", [], "real-root", stdout="^check-layout: [0-9]+ includes"),
    "build/flopslab compare A B [--out DIR]": Run(f"flopslab compare {REPORT} {REPORT_B} --out compared",
                                                  ["compared/compare.md"], "root"),
    "build/flopslab course [--from N] [--to M] [--quick] [--out DIR]":
        Run("flopslab course --from 12 --to 13 --quick --out course", ["course/course.md", "course/course.json"]),
    "flopslab course": Run("flopslab course --from 12 --to 13 --quick", ["reports/*/course.md"]),
    "build/flopslab course --recheck reports/DIR": Run(f"flopslab course --recheck {REPORT}", stdout="Course rechecked",
                                                       where="root"),
    "flopslab course --recheck DIR": Run(f"flopslab course --recheck {REPORT}", stdout="Course rechecked", where="root"),
    "flopslab course --recheck reports/<dir>": Run(f"flopslab course --recheck {REPORT_B} --to 4",
                                                   stdout="Course rechecked", where="root"),
    "build/flopslab-micro [Google Benchmark options]":
        Run("flopslab-micro --benchmark_filter=/n:128/threads:1/ --benchmark_min_time=0.01", stdout="gemm/naive"),
}

# Lessons: each one's quick run is a ctest of its own (cli.lesson_NN_quick), from a fresh
# working directory, requiring every check to pass.
LESSON = re.compile(r"^(build/)?flopslab lesson (N|\d+)( \[--quick\] \[--threads N\])?$")

SKIPS = {
    "scripts/test": "this test is part of it",
    "scripts/test-sanitized asan tsan": "scripts/test runs it",
    "scripts/test-aarch64": "scripts/test runs it",
    "scripts/test-aarch64 --clang": "a second cross build, with clang, and its qemu run (about 15 minutes); opt-in: "
                                    "scripts/test runs the GCC build",
    "cmake -S . -B build-aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DFLOPSLAB_WITH_CUDA=OFF":
        "the aarch64 cross build: scripts/test-aarch64 makes it and runs its suite under qemu",
    "cmake --build build-aarch64": "the aarch64 cross build: scripts/test-aarch64 makes it and runs its suite under qemu",
    "scripts/setup-peers": "downloads several GB of PyTorch from PyPI; opt-in, and never needed by the tests",
    "scripts/setup-peers --blas": "downloads about 600 MB of oneMKL and OpenBLAS from PyPI; opt-in, and never needed by the tests",
    "scripts/torch_twin.py": TORCH,
    "scripts/torch_twin.py --model mlp": TORCH,
    "scripts/torch_twin.py --device cuda": TORCH + "; and " + GPU,
    "scripts/torch_infer_twin.py": TORCH,
    "scripts/torch_step_profile.py": TORCH + "; cli.train_against_pytorch runs it where PyTorch is",
    "scripts/make_torch_fixtures.py": TORCH,
    "scripts/make_schedule_fixtures.py": TORCH,
    "scripts/gpu-check": GPU + "; its command line is tested by cli.gpu_check_*",
    "scripts/gpu-check [--quick] OUTDIR": GPU + "; its command line is tested by cli.gpu_check_*",
    "flopslab gemm --device cuda": GPU,
    "build/flopslab gemm --device cuda": GPU,
    "flopslab train --device cuda": GPU,
    "flopslab train --device cuda --profile": GPU,
    "build/flopslab-tune-warptiling [N]": "a developer tool, built on request, for a GPU",
    "mpirun": "the launcher's name, not a command line",
    "mpirun -np 2": "the launcher's options, not a command line",
    "../shared/scripts/offline-deps.sh .offline-deps --with-data": "prepares a GPU host's build; downloads packages",
    "../shared/scripts/offline-deps.sh": "prepares a GPU host's build; downloads packages",
    "source .offline-deps/env.sh": "a GPU host's step (after offline-deps.sh)",
    "cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release && cmake --build build-gpu -j": "a GPU host's build",
    "ctest --test-dir build-gpu --output-on-failure": "a GPU host's tests",
}


def extract(source):
    """Every command line of README.md and the lessons' READMEs, with where it was found."""
    pattern = re.compile(r"^(build/flopslab\S*|flopslab|scripts/\S+|mpirun|\.\./shared/\S+|source|cmake|ctest)(\s|$)")
    found = {}
    for path in ["README.md"] + sorted(glob.glob("lessons/*/README.md", root_dir=source)):
        block = False
        with open(os.path.join(source, path)) as f:
            for number, line in enumerate(f, 1):
                if line.strip().startswith("```"):
                    block = not block
                    continue
                if block:
                    text = line.split("#")[0].strip()
                    text = re.split(r"\s{3,}", text)[0]  # the synopsis's description column
                    if pattern.match(text):
                        found.setdefault(text, f"{path}:{number}")
                else:
                    for span in re.findall(r"`([^`]+)`", line):
                        if pattern.match(span.strip()) and not span.strip().startswith(("source", "cmake", "ctest")):
                            found.setdefault(span.strip(), f"{path}:{number}")
    return found


def mirror_root(source, into):
    """A repository root with nothing written yet: the sources linked in, reports/ new."""
    for name in ["build", "recipes", "scripts", "lessons", "tests", "README.md", "kernels", "nn", "bench", "cli"]:
        os.symlink(os.path.join(source, name), os.path.join(into, name))
    os.mkdir(os.path.join(into, "reports"))
    for report in os.listdir(os.path.join(source, "reports")):
        os.symlink(os.path.join(source, "reports", report), os.path.join(into, "reports", report))


def run_one(key, run, where, source, build, env):
    """Runs one form in one place; returns a list of problems (empty: it worked)."""
    with tempfile.TemporaryDirectory(prefix="flopslab-readme-") as scratch:
        command = run.command
        if where == "fresh":
            cwd = scratch
        elif where == "root":
            cwd = scratch
            mirror_root(source, scratch)
            command = re.sub(r"(^|&& |\s)flopslab(-micro)?\b", lambda m: f"{m.group(1)}build/flopslab{m.group(2) or ''}",
                             command)
        else:  # the real root, for scripts/report and scripts/setup
            cwd = source
        before = set(os.listdir(os.path.join(source, "reports")))
        started = time.time()
        try:
            r = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
            code, out, err = r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired:
            code, out, err = "timeout", "", ""
        seconds = time.time() - started
        problems = []
        if code != 0:
            problems.append(f"exit {code}: {(err or out).strip().splitlines()[-1:] }")
        base = cwd
        for pattern in run.writes:
            matches = glob.glob(os.path.join(base, pattern))
            if not matches:
                problems.append(f"did not write {pattern}")
        if run.stdout and not re.search(run.stdout, out, re.S):
            problems.append(f"stdout lacks {run.stdout!r}")
        if where == "real-root":  # leave the checkout's reports/ as it was
            for new in set(os.listdir(os.path.join(source, "reports"))) - before:
                shutil.rmtree(os.path.join(source, "reports", new), ignore_errors=True)
        print(f"{'ok  ' if not problems else 'FAIL'} {where:9s} {seconds:5.1f} s  {run.command}", flush=True)
        for p in problems:
            print(f"       {p}", flush=True)
        return problems


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    source, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    commands = extract(source)
    if "--list" in sys.argv:
        for text, where in commands.items():
            print(f"{where:50s} {text}")
        return
    env = dict(os.environ, PATH=f"{build}:{os.environ['PATH']}", NO_COLOR="1",
               # mpirun refuses root without these (CI runs as root); 2 ranks on 2 cores
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    failures, outcomes = [], []
    done = {}  # (command, place) -> problems: a form two README lines share runs once
    for text, found in commands.items():
        if LESSON.match(text):
            outcomes.append((text, found, "run by its own test, cli.lesson_NN_quick (from a fresh directory)"))
            continue
        if text in SKIPS:
            outcomes.append((text, found, "not run here: " + SKIPS[text]))
            continue
        run = RUNS.get(text)
        if run is None:
            failures.append(f"{found}: `{text}` is in no table of tests/readme_commands.py: add how it runs here")
            outcomes.append((text, found, "FAILED: in no table"))
            continue
        places = {"both": ["fresh", "root"], "fresh": ["fresh"], "root": ["root"], "real-root": ["real-root"]}[run.where]
        problems = []
        for where in places:
            key = (run.command, tuple(run.writes), run.stdout, where)
            if key not in done:
                done[key] = run_one(text, run, where, source, build, env)
            problems += [f"from the {'repository root' if 'root' in where else 'fresh directory'}: {p}" for p in done[key]]
        outcomes.append((text, found, "ran: " + run.command + (" FAILED" if problems else "")))
        failures += [f"{found}: `{text}`: {p}" for p in problems]
    print("\nEvery command the READMEs show, and its outcome:")
    for text, found, outcome in outcomes:
        print(f"  {found:48s} {text}\n  {'':48s}   -> {outcome}")
    if failures:
        print("\nFailures:\n" + "\n".join(failures))
        sys.exit(1)
    print(f"\nAll {len(outcomes)} README commands ran or are accounted for.")


if __name__ == "__main__":
    main()
