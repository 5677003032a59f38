// What the CUDA kernels ask of the current device, asked once.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.h"

namespace flopslab::cuda {

// The streaming multiprocessors of the current device: tile and split-K choices need it.
inline int multiprocessor_count() {
  static const int count = [] {
    int device = 0, sms = 0;
    FLOPSLAB_CUDA_CHECK(cudaGetDevice(&device));
    FLOPSLAB_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    return sms;
  }();
  return count;
}

}  // namespace flopslab::cuda
