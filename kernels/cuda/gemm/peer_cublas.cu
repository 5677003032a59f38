// Peers: cuBLAS SGEMM in true FP32 (CUBLAS_COMPUTE_32F: no TF32 tensor cores, the fair
// comparison for the ladder), and cuBLAS with TF32 tensor cores as a context row (10-bit
// mantissas in the products: faster, and a different precision).
//
// cuBLAS is column-major. A row-major C = A*B is, read column-major, C^T = B^T * A^T, so the
// call passes B first and swaps m and n; no data moves.
#include <cublas_v2.h>

#include <string>

#include "kernels/cuda/gemm/cuda_gemm.h"

namespace flopslab::gemm::cuda {
namespace {

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(what) + " failed: " + cublasGetStatusString(status));
}

// One handle per process, created on first use and destroyed at exit (before the CUDA
// runtime's own teardown, which was registered earlier).
struct Handle {
  cublasHandle_t h = nullptr;
  Handle() { check_cublas(cublasCreate(&h), "cublasCreate"); }
  ~Handle() { cublasDestroy(h); }
};

cublasHandle_t handle() {
  static Handle handle;
  return handle.h;
}

void cublas_gemm(const Operands& op, const RunContext& ctx, cublasComputeType_t compute) {
  const auto [m, n, k] = op.shape;
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS semantics with beta = 0: C = 0
    FLOPSLAB_CUDA_CHECK(cudaMemset2DAsync(op.c, op.ldc * sizeof(float), 0, n * sizeof(float), m, stream_of(ctx)));
    return;
  }
  check_cublas(cublasSetStream(handle(), stream_of(ctx)), "cublasSetStream");
  const float one = 1.0f, zero = 0.0f;
  check_cublas(cublasGemmEx(handle(), CUBLAS_OP_N, CUBLAS_OP_N, int(n), int(m), int(k), &one, op.b, CUDA_R_32F,
                            int(op.ldb), op.a, CUDA_R_32F, int(op.lda), &zero, op.c, CUDA_R_32F, int(op.ldc), compute,
                            CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
}

void cublas_fp32(const Operands& op, const RunContext& ctx) { cublas_gemm(op, ctx, CUBLAS_COMPUTE_32F); }
void cublas_tf32(const Operands& op, const RunContext& ctx) { cublas_gemm(op, ctx, CUBLAS_COMPUTE_32F_FAST_TF32); }

std::string cublas_version() {
  int version = 0;
  cublasGetVersion(handle(), &version);
  return "cuBLAS " + std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100);
}

}  // namespace

extern const GemmVariant kCudaCublas{
    .name = "cublas",
    .device = Device::cuda,
    .role = Role::peer,
    .idea = "cuBLAS SGEMM, CUBLAS_COMPUTE_32F (TF32 off): the fair FP32 peer",
    .run = cublas_fp32,
    .detail = cublas_version,
};

extern const GemmVariant kCudaCublasTf32{
    .name = "cublas-tf32",
    .device = Device::cuda,
    .role = Role::context,
    .idea = "cuBLAS with TF32 tensor cores (10-bit mantissas): context, not a peer",
    .run = cublas_tf32,
    .detail = cublas_version,
    .input_roundoff = 0x1p-11,
};

}  // namespace flopslab::gemm::cuda
