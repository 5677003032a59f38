// Shared by the CUDA convolution kernels: the shape in 32-bit integers for index arithmetic
// on the device (conv::shape_problem refuses tensors of 2^31 elements or more, so every
// index fits), and launch helpers. The problem is the one in kernels/conv.h, with device
// pointers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/conv.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_info.h"
#include "kernels/registry.h"

namespace flopslab::conv::cuda {

struct DeviceShape {
  int n, c, h, w, k, r, s;
  int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
  int p, q;
  int c_per_group, k_per_group;

  static DeviceShape of(const Shape& s) {
    return {int(s.n),        int(s.c),        int(s.h),          int(s.w),          int(s.k),
            int(s.r),        int(s.s),        int(s.stride_h),   int(s.stride_w),   int(s.pad_h),
            int(s.pad_w),    int(s.dilation_h), int(s.dilation_w), int(s.groups),   int(s.p()),
            int(s.q()),      int(s.c_per_group()), int(s.k_per_group())};
  }
};

inline cudaStream_t stream_of(const RunContext& ctx) { return static_cast<cudaStream_t>(ctx.stream); }
inline unsigned blocks_for(std::int64_t count, int per_block) { return unsigned((count + per_block - 1) / per_block); }

using flopslab::cuda::multiprocessor_count;  // split-K decisions need it

}  // namespace flopslab::conv::cuda
