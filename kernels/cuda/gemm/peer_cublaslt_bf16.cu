// Peer of step 9: cuBLASLt's matmul on bfloat16 operands with float32 accumulation and
// output (CUBLAS_COMPUTE_32F), on the same packed bfloat16 copies step 9 makes, so that the
// two differ only in the multiply. Row-major C = A*B is called as column-major C^T = B^T A^T.
#include <cublasLt.h>

#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "kernels/cuda/gemm/bf16_operands.cuh"
#include "kernels/cuda/workspace.h"

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

constexpr std::size_t kWorkspaceBytes = std::size_t(32) << 20;

// The descriptors and the heuristic's algorithm for one shape, made on the first call of that
// shape and kept: building them and asking the heuristic costs host time that would otherwise
// fall inside every timed call. Never destroyed (a CUDA graph may replay the matmul).
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

const Plan& plan_for(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t ldc) {
  static std::mutex mutex;
  static auto* plans = new std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>, Plan>();
  std::lock_guard lock(mutex);
  if (auto it = plans->find({m, n, k, ldc}); it != plans->end()) return it->second;
  Plan p;
  check_lt(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  // Column-major views: B^T is n x k (ld n), A^T is k x m (ld k), C^T is n x m (ld ldc).
  check_lt(cublasLtMatrixLayoutCreate(&p.la, CUDA_R_16BF, std::uint64_t(n), std::uint64_t(k), std::int64_t(n)), "layout");
  check_lt(cublasLtMatrixLayoutCreate(&p.lb, CUDA_R_16BF, std::uint64_t(k), std::uint64_t(m), std::int64_t(k)), "layout");
  check_lt(cublasLtMatrixLayoutCreate(&p.lc, CUDA_R_32F, std::uint64_t(n), std::uint64_t(m), ldc), "layout");
  cublasLtMatmulPreference_t preference = nullptr;
  check_lt(cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate");
  const std::size_t workspace_bytes = kWorkspaceBytes;
  check_lt(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
                                                sizeof(workspace_bytes)),
           "cublasLtMatmulPreferenceSetAttribute");
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(lt_handle(), p.desc, p.la, p.lb, p.lc, p.lc, preference, 1, &heuristic, &found);
  cublasLtMatmulPreferenceDestroy(preference);
  check_lt(status, "cublasLtMatmulAlgoGetHeuristic");
  if (found == 0)
    throw std::runtime_error("cuBLASLt found no bfloat16 algorithm for " + std::to_string(m) + "x" + std::to_string(n) +
                             "x" + std::to_string(k));
  p.algo = heuristic.algo;
  return plans->emplace(std::make_tuple(m, n, k, ldc), p).first->second;
}

void cublaslt_bf16(const Operands& op, const RunContext& ctx) {
  const cudaStream_t stream = stream_of(ctx);
  Bf16Operands packed;
  if (!start_bf16(op, stream, packed)) return;
  static flopslab::cuda::Workspace scratch("cuBLASLt's bf16 matmul");
  void* space = scratch.reserve(kWorkspaceBytes);
  const Plan& p = plan_for(op.shape.m, op.shape.n, op.shape.k, op.ldc);
  const float one = 1.0f, zero = 0.0f;
  check_lt(cublasLtMatmul(lt_handle(), p.desc, &one, packed.b, p.la, packed.a, p.lb, &zero, op.c, p.lc, op.c, p.lc,
                          &p.algo, space, kWorkspaceBytes, stream),
           "cublasLtMatmul");
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
