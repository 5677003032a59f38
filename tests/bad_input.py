#!/usr/bin/python3
"""Bad input across every command, in one table.

Each row runs one flopslab command with a mistake users make: a missing file, a directory
where a file belongs, a file of the wrong kind, an output path that cannot be created, a
number out of range, a malformed list, an option of another command. Every row must give
exit status 2, exactly one line on stderr naming the offending value, and leave nothing
behind: the working directory (a fresh, empty one) stays empty and the output path named in
the row is not created.

usage: tests/bad_input.py BUILD/flopslab
"""
import gzip
import os
import shutil
import subprocess
import sys
import tempfile

FASHION = "/usr/share/datasets/fashion-mnist"
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT = os.path.join(SOURCE, "reports", "amd-epyc-2c-2026-12-01")


def rows(scratch):
    """(command line, text stderr must contain, output path that must not appear or None)."""
    bad_data = os.path.join(scratch, "truncated-data")
    return [
        # info, probe
        (["info", "--json", "/proc/x/info.json"], "/proc/x", "/proc/x"),
        (["info", "--json", "/etc/passwd/info.json"], "/etc/passwd", None),
        (["info", "--json", scratch], scratch, None),
        (["info", "--sizes", "64"], "--sizes", None),
        (["probe", "cache"], "'cache'", None),
        (["probe", "flops", "--threads", "0"], "--threads: 0", None),
        (["probe", "latency", "--max-size", "12Q"], "'12Q'", None),
        (["probe", "flops", "--json", "/proc/x/p.json"], "/proc/x", "/proc/x"),
        (["probe", "flops", "--variants", "naive"], "--variants", None),
        # gemm, conv
        (["gemm", "--sizes", "0"], "--sizes: 0", None),
        (["gemm", "--sizes", "64,,128"], "--sizes", None),
        (["gemm", "--sizes", "2x3"], "'2x3'", None),
        (["gemm", "--threads", "1,x"], "'x'", None),
        (["gemm", "--variants", "fast"], "'fast'", None),
        (["gemm", "--device", "tpu"], "'tpu'", None),
        (["gemm", "--max-call-seconds", "-1"], "-1", None),
        (["gemm", "--json", "/etc/passwd/g.json"], "/etc/passwd", None),
        (["gemm", "--json", scratch], scratch, None),
        (["gemm", "--epochs", "3"], "--epochs", None),
        (["conv", "--shape", "1,2,3"], "'1,2,3'", None),
        (["conv", "--shape", "1,6,8,8,4,3,3,1,1,1,4"], "groups 4", None),
        (["conv", "--impl", "nope"], "'nope'", None),
        (["conv", "--pass", "up"], "'up'", None),
        (["conv", "--threads", "0"], "--threads: 0", None),
        (["conv", "--json", "/proc/x/c.json"], "/proc/x", "/proc/x"),
        (["conv", "--model", "cnn"], "--model", None),
        # train: its inputs (recipe, data, checkpoint) before its output
        (["train", "--recipe", "/nonexistent.json"], "/nonexistent.json", "runs"),
        (["train", "--recipe", "/etc/passwd"], "/etc/passwd", "runs"),
        (["train", "--recipe", scratch], scratch, "runs"),
        (["train", "--data", "/nonexistent-data"], "/nonexistent-data", "runs"),
        (["train", "--data", "/etc"], "/etc", "runs"),
        # Only reading finds the cut (after the progress line "loading"; --no-progress drops it).
        (["train", "--data", bad_data, "--train-limit", "100", "--no-progress"], "train-images-idx3-ubyte.gz", "runs"),
        (["train", "--init-from", "/etc/passwd", "--train-limit", "100"], "/etc/passwd", "runs"),
        (["train", "--init-from", "/nonexistent.bin"], "/nonexistent.bin", "runs"),
        (["train", "--resume", "--out", "fresh"], "fresh/checkpoint.bin", "fresh"),
        (["train", "--out", "/proc/x"], "/proc/x", "/proc/x"),
        (["train", "--out", "/etc/passwd/x"], "/etc/passwd", None),
        (["train", "--recipe", "/nonexistent.json", "--out", "/proc/x"], "/nonexistent.json", "/proc/x"),
        (["train", "--epochs", "0"], "--epochs: 0", "runs"),
        (["train", "--batch", "abc"], "'abc'", "runs"),
        (["train", "--lr", "-1"], "-1", "runs"),
        (["train", "--jitter", "2,1"], "--jitter", "runs"),
        (["train", "--classes", "0,0"], "class 0", "runs"),
        (["train", "--lr-mult", "body=0"], "body", "runs"),
        (["train", "--model", "resnet"], "'resnet'", "runs"),
        (["train", "--sizes", "64"], "--sizes", "runs"),
        # lr-find, infer
        (["lr-find", "--out", "/proc/x"], "/proc/x", "/proc/x"),
        (["lr-find", "--out", "/etc/passwd/x"], "/etc/passwd", None),
        (["lr-find", "--init-from", "/etc/passwd"], "/etc/passwd", "runs"),
        (["lr-find", "--data", "/nonexistent-data"], "/nonexistent-data", "runs"),
        (["lr-find", "--steps", "1"], "--steps: 1", "runs"),
        (["lr-find", "--start-lr", "fast"], "'fast'", "runs"),
        (["infer", "--checkpoint", "/etc/passwd"], "/etc/passwd", None),
        (["infer", "--checkpoint", "/nonexistent.bin"], "/nonexistent.bin", None),
        (["infer", "--checkpoint", scratch], scratch, None),
        (["infer", "--batch", "0"], "--batch", None),
        (["infer", "--json", "/proc/x/i.json"], "/proc/x", "/proc/x"),
        (["infer", "--epochs", "1"], "--epochs", None),
        # demo, allreduce, scale
        (["demo", "--scene", "race"], "'race'", None),
        (["demo", "--seconds", "0"], "--seconds: 0", None),
        (["demo", "--size", "-5"], "-5", None),
        (["demo", "--json", "/proc/x/d.json"], "/proc/x", "/proc/x"),
        (["allreduce", "--max-bytes", "1K"], "1K", None),
        (["allreduce", "--device", "tpu"], "'tpu'", None),
        (["allreduce", "--json", "/proc/x/a.json"], "/proc/x", "/proc/x"),
        (["scale", "--ranks", "8,x"], "'x'", "runs"),
        (["scale", "--models", "alexnet"], "'alexnet'", "runs"),
        (["scale", "--link-gbps", "-1"], "-1", "runs"),
        (["scale", "--allreduce-json", "/etc/passwd"], "/etc/passwd", "runs"),
        (["scale", "--allreduce-json", "/nonexistent.json"], "/nonexistent.json", "runs"),
        (["scale", "--out", "/proc/x", "--link-gbps", "10"], "/proc/x", "/proc/x"),
        # report, compare, lesson, course
        (["report", "--out", "/proc/x"], "/proc/x", "/proc/x"),
        (["report", "--out", "/etc/passwd/x"], "/etc/passwd", None),
        (["report", "--threads", "2"], "--threads", "reports"),
        (["compare", "/nonexistent", REPORT], "/nonexistent", None),
        (["compare", "/etc/passwd", REPORT], "/etc/passwd", None),
        (["compare", REPORT, REPORT, "--out", "/proc/x"], "/proc/x", "/proc/x"),
        (["compare", REPORT], "B", None),
        (["lesson", "99"], "99", None),
        (["lesson", "five"], "'five'", None),
        (["lesson", "1", "--threads", "0"], "--threads: 0", None),
        (["course", "--from", "0"], "0", "reports"),
        (["course", "--to", "x"], "'x'", "reports"),
        (["course", "--recheck", "/etc/passwd"], "/etc/passwd", None),
        (["course", "--recheck", "/nonexistent"], "/nonexistent", None),
        (["course", "--out", "/proc/x"], "/proc/x", "/proc/x"),
        (["frobnicate"], "'frobnicate'", None),
    ]


def make_truncated_dataset(directory):
    """Fashion-MNIST with its training images cut short after the header and a little data."""
    os.makedirs(directory)
    for name in os.listdir(FASHION):
        if name.endswith(".gz"):
            shutil.copy(os.path.join(FASHION, name), directory)
    with gzip.open(os.path.join(FASHION, "train-images-idx3-ubyte.gz"), "rb") as f:
        head = f.read(2000)
    with gzip.open(os.path.join(directory, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(head)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    exe = os.path.abspath(sys.argv[1])
    failures = []
    with tempfile.TemporaryDirectory(prefix="flopslab-bad-input-") as scratch:
        make_truncated_dataset(os.path.join(scratch, "truncated-data"))
        table = rows(scratch)
        for args, names, output in table:
            with tempfile.TemporaryDirectory(prefix="flopslab-cwd-") as cwd:
                r = subprocess.run([exe] + args, cwd=cwd, capture_output=True, text=True, timeout=120,
                                   env=dict(os.environ, NO_COLOR="1"))
                line = " ".join(args)
                problems = []
                if r.returncode != 2:
                    problems.append(f"exit {r.returncode}, not 2")
                lines = r.stderr.splitlines()
                if len(lines) != 1:
                    problems.append(f"{len(lines)} lines on stderr, not 1")
                if names not in r.stderr:
                    problems.append(f"stderr does not name {names!r}")
                if lines and not lines[0].startswith("flopslab: "):
                    problems.append("stderr does not start with 'flopslab: '")
                if r.stdout:
                    problems.append("output on stdout")
                if "terminate called" in r.stderr or "what():" in r.stderr:
                    problems.append("an uncaught exception")
                left = os.listdir(cwd)
                if left:
                    problems.append(f"left {left} in the working directory")
                if output is not None and os.path.isabs(output) and os.path.exists(output):
                    problems.append(f"created {output}")
                status = "ok  " if not problems else "FAIL"
                print(f"{status} flopslab {line}\n     -> exit {r.returncode}: {r.stderr.strip()[:300]}")
                if problems:
                    failures.append(f"flopslab {line}: {'; '.join(problems)}")
        print(f"\n{len(table) - len(failures)} of {len(table)} bad inputs refused as they should be")
    if failures:
        print("\n".join(["", "Failures:"] + failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
