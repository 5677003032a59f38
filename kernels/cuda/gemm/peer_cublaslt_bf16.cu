// Peer of step 9: cuBLASLt's matmul on bfloat16 operands with float32 accumulation and
// output (CUBLAS_COMPUTE_32F), on the same packed bfloat16 copies step 9 makes, so that the
// two differ only in the multiply. Row-major C = A*B is called as column-major C^T = B^T A^T.
#include <cublasLt.h>

#include <string>

#include "kernels/cuda/gemm/bf16_operands.cuh"

namespace flopslab::gemm::cuda {
namespace {

void check_lt(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(what) + " failed: " + cublasGetStatusString(status));
}

struct LtHandle {
  cublasLtHandle_t h = nullptr;
  LtHandle() { check_lt(cublasLtCreate(&h), "cublasLtCreate"); }
  ~LtHandle() { cublasLtDestroy(h); }
};
cublasLtHandle_t lt_handle() {
  static LtHandle handle;
  return handle.h;
}

void* workspace(std::size_t bytes) {  // cuBLASLt's, never freed (CUDA graphs)
  static void* p = nullptr;
  static std::size_t size = 0;
  if (bytes > size) {
    FLOPSLAB_CUDA_CHECK(cudaMalloc(&p, bytes));
    size = bytes;
  }
  return p;
}

void cublaslt_bf16(const Operands& op, const RunContext& ctx) {
  if (empty(op)) return;
  const auto [m, n, k] = op.shape;
  const cudaStream_t stream = stream_of(ctx);
  if (k == 0) {
    FLOPSLAB_CUDA_CHECK(cudaMemset2DAsync(op.c, op.ldc * sizeof(float), 0, n * sizeof(float), m, stream));
    return;
  }
  const Bf16Operands packed = pack_bf16(op, stream);

  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  check_lt(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  // Column-major views: B^T is n x k (ld n), A^T is k x m (ld k), C^T is n x m (ld ldc).
  check_lt(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, std::uint64_t(n), std::uint64_t(k), std::int64_t(n)), "layout");
  check_lt(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, std::uint64_t(k), std::uint64_t(m), std::int64_t(k)), "layout");
  check_lt(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, std::uint64_t(n), std::uint64_t(m), op.ldc), "layout");
  const std::size_t workspace_bytes = std::size_t(32) << 20;
  void* scratch = workspace(workspace_bytes);
  cublasLtMatmulPreference_t preference = nullptr;
  check_lt(cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate");
  check_lt(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
                                                sizeof(workspace_bytes)),
           "cublasLtMatmulPreferenceSetAttribute");
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(lt_handle(), desc, la, lb, lc, lc, preference, 1, &heuristic, &found);
  const float one = 1.0f, zero = 0.0f;
  cublasStatus_t ran = status;
  if (status == CUBLAS_STATUS_SUCCESS && found > 0)
    ran = cublasLtMatmul(lt_handle(), desc, &one, packed.b, la, packed.a, lb, &zero, op.c, lc, op.c, lc, &heuristic.algo,
                         scratch, workspace_bytes, stream);
  cublasLtMatmulPreferenceDestroy(preference);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatmulDescDestroy(desc);
  if (status == CUBLAS_STATUS_SUCCESS && found == 0)
    throw std::runtime_error("cuBLASLt found no bfloat16 algorithm for " + std::to_string(m) + "x" + std::to_string(n) +
                             "x" + std::to_string(k));
  check_lt(ran, "cublasLtMatmul");
}

std::string lt_version() {
  const std::size_t v = cublasLtGetVersion();
  return "cuBLASLt " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

}  // namespace

extern const GemmVariant kCudaCublasLtBf16{
    .name = "cublaslt-bf16",
    .device = Device::cuda,
    .role = Role::peer,
    .idea = "cuBLASLt matmul on bfloat16 operands, float32 accumulation: step 9's peer",
    .run = cublaslt_bf16,
    .detail = lt_version,
    .input_roundoff = 0x1p-8,
};

}  // namespace flopslab::gemm::cuda
