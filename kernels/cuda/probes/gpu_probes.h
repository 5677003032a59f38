// Kernels for the GPU probes, behind launchers that take plain pointers and a stream (as
// void*), so bench code that includes this header needs no CUDA headers itself.
// Every launcher checks its launch and throws flopslab::cuda::CudaError on failure.
#pragma once

#include <cstdint>

namespace flopslab::probes::gpu {

constexpr int kFmaChains = 8;  // independent FMA chains per thread

// `threads` threads (in blocks of up to 256) each run `iterations` rounds of kFmaChains
// independent FMAs and write one float to out[thread]. FLOPs = threads x iterations x 16.
void launch_fma(float* out, std::int64_t threads, int iterations, void* stream);

// Tensor cores: every warp runs `iterations` rounds of kMmaChains independent warp-wide
// mma.sync products, bf16 (m16n8k16) or TF32 (m16n8k8), float32 sums, every operand 2^-10, and
// each thread writes the sum of its accumulators to out[thread]. Needs sm_80 or later (false:
// nothing launched). FLOPs = threads / 32 x iterations x kMmaChains x 2 x 16 x 8 x K.
constexpr int kMmaChains = 4;
bool launch_mma(float* out, std::int64_t threads, int iterations, bool bf16, int cc_major, void* stream);
inline double mma_flops(std::int64_t threads, int iterations, bool bf16) {
  return double(threads / 32) * iterations * kMmaChains * 2.0 * 16 * 8 * (bf16 ? 16 : 8);
}
// What each thread's sum must be: its 4 accumulators per chain each gain K products of 2^-20
// per round, exactly.
inline double mma_thread_sum(int iterations, bool bf16) {
  return double(kMmaChains) * 4 * iterations * (bf16 ? 16 : 8) / double(1 << 20);
}

// out[i] = in[i] (copy) or a[i] = b[i] + s*c[i] (triad) over n floats, moved as 1, 2 or 4
// floats per access, by a grid-stride loop on `blocks` x `threads_per_block` threads
// (blocks = 0: enough blocks to cover n once).
void launch_copy(const float* in, float* out, std::int64_t n, int vector_width, int blocks, int threads_per_block,
                 void* stream);
void launch_triad(float* a, const float* b, const float* c, float s, std::int64_t n, int vector_width, int blocks,
                  int threads_per_block, void* stream);

// Reads n floats (float4 at a time) `passes` times and writes one sum per thread to sink
// (blocks x 256 floats): a working set that fits the L2 measures the L2.
void launch_read(const float* in, float* sink, std::int64_t n, int passes, int blocks, void* stream);

// Each of `blocks` blocks of 256 threads reads `iterations` float4s from a 16 KiB shared array
// (conflict-free), writing one sum per thread to sink. Bytes = blocks x 256 x iterations x 16.
void launch_shared_read(float* sink, int iterations, int blocks, void* stream);

// Control flow: every thread runs `iterations` rounds of work on one of two paths, chosen by
// mode: 0 uniform (all take path A), 1 by warp index (whole warps per path: no divergence),
// 2 by lane parity (each warp runs both paths one after the other), 3 by lane (32 paths, one
// lane each). `blocks` x 256 threads; one float per thread to out.
void launch_divergent(float* out, int mode, int iterations, int blocks, void* stream);

// A kernel that does nothing (launch cost), and one that spins for `cycles` GPU clock cycles
// on one thread per block (a stand-in for compute in the copy/compute overlap experiment).
void launch_empty(void* stream);
void launch_spin(std::int64_t cycles, int blocks, void* stream);

// Converts n floats to bfloat16 (round to nearest even) into out (n x 2 bytes).
void launch_to_bf16(const float* in, void* out, std::int64_t n, void* stream);
// IEEE half precision (10-bit mantissas) both ways, for cuDNN's FP16 convolution rows.
void launch_to_fp16(const float* in, void* out, std::int64_t n, void* stream);
void launch_from_fp16(const void* in, float* out, std::int64_t n, void* stream);

// Writes `bytes` of `buffer` (an L2 flush when bytes > 2 x L2).
void launch_scrub(void* buffer, std::int64_t bytes, void* stream);

}  // namespace flopslab::probes::gpu
