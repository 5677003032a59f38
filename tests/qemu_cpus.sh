#!/usr/bin/env bash
# flopslab on CPUs this machine is not: the binary under qemu-user with a Haswell (AVX2 + FMA,
# no AVX-512) and a Nehalem (SSE4.2: no AVX, no FMA) CPU model. qemu emulates each
# instruction set exactly, so an AVX-512 or FMA instruction on the wrong path is a SIGILL
# here, and OpenBLAS and oneDNN choose their kernels from the emulated CPUID as they would on
# such a machine. Emulated timings mean nothing; exit codes and checked results are real.
#   tests/qemu_cpus.sh BUILD/flopslab SCRATCH_DIR Haswell|Nehalem
set -euo pipefail
exe=$1 scratch=$2 cpu=$3
if ! command -v qemu-x86_64 > /dev/null; then
  echo "qemu-x86_64 is missing: scripts/setup installs qemu-user (sudo apt-get install qemu-user)" >&2
  exit 1
fi
mkdir -p "$scratch"
failed=0
run() {  # run CPU NAME ARGS...: exit 0 required; the output is kept in $scratch
  local cpu=$1 name=$2
  shift 2
  local log="$scratch/qemu-$cpu-$name.log"
  if qemu-x86_64 -cpu "$cpu" "$exe" "$@" > "$log" 2>&1; then
    echo "ok    $cpu: flopslab $*"
  else
    echo "FAIL  $cpu: flopslab $* (exit $?; $log):" >&2
    grep -v "TCG doesn't support" "$log" | tail -5 >&2
    failed=1
  fi
}
expect() {  # expect CPU NAME REGEX: the run's output must match
  if ! grep -Eq "$3" "$scratch/qemu-$1-$2.log"; then
    echo "FAIL  $1: $2's output lacks /$3/" >&2
    failed=1
  fi
}
case $cpu in Haswell | Nehalem) ;; *) echo "usage: $0 EXE SCRATCH Haswell|Nehalem" >&2; exit 2 ;; esac
{
  run "$cpu" info info
  run "$cpu" flops probe flops --quick --no-peers --no-progress
  run "$cpu" gemm gemm --quick --no-progress --sizes 33,20x50x7 --threads 1,2
  run "$cpu" conv conv --quick --no-progress --pass all --threads 1,2 --shape 2,6,9,7,4,3,3,2,1,1,2 --shape 1,8,5,5,8,1,1
  run "$cpu" train train --model cnn --epochs 1 --batch 32 --train-limit 256 --test-limit 64 --threads 2 --no-progress \
    --no-plots --force --out "$scratch/qemu-$cpu-run"
  expect "$cpu" gemm "onednn-bf16 .*skipped: oneDNN .* has no bf16 matmul for this CPU"
  expect "$cpu" train "Trained cnn with adam"
  if grep -Eq "FAIL|failed verification" "$scratch/qemu-$cpu-gemm.log" "$scratch/qemu-$cpu-conv.log"; then
    echo "FAIL  $cpu: a kernel's result failed its check" >&2
    failed=1
  fi
}
if [ "$cpu" = Haswell ]; then
  expect Haswell info "GEMM path    avx2 micro-kernel"
  expect Haswell flops "avx2-fp32 +1 "
else
  expect Nehalem info "GEMM path    scalar micro-kernel"
  expect Nehalem info "no FMA: a multiply pipe and an add pipe assumed"
  expect Nehalem flops "sse-fp32 \(mul\+add\) +1 "
fi
exit $failed
