// Every CUDA runtime call is checked; a failure becomes an exception that names the call, the
// file and line, and the CUDA error string, so no error is ever silently dropped and nothing
// crashes later on a bad pointer. Launches are checked with cudaGetLastError right after.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace flopslab::cuda {

struct CudaError : std::runtime_error {
  CudaError(cudaError_t code, const std::string& what) : std::runtime_error(what), code(code) {}
  cudaError_t code;
};

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  throw CudaError(status, std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                              cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")");
}

}  // namespace flopslab::cuda

#define FLOPSLAB_CUDA_CHECK(call) ::flopslab::cuda::check((call), #call, __FILE__, __LINE__)
#define FLOPSLAB_CUDA_CHECK_LAUNCH() ::flopslab::cuda::check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
