// Peer: oneDNN's dnnl_sgemm, Intel's deep-learning primitives library, which JIT-generates
// its kernels for the CPU it finds (AVX-512 included). Built only when libdnnl-dev is found.
#include <omp.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cpu/onednn_status.h"
#include "kernels/registry.h"

#ifdef FLOPSLAB_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

namespace flopslab::gemm {
namespace {

#ifdef FLOPSLAB_HAVE_ONEDNN
void onednn(const Operands& op, const RunContext& ctx) {
  const auto [m, n, k] = op.shape;
  if (k == 0) {  // dnnl_sgemm rejects k = 0; BLAS semantics (beta = 0) make C zero
    for (std::int64_t i = 0; i < m; ++i) std::fill_n(op.c + i * op.ldc, n, 0.0f);
    return;
  }
  omp_set_num_threads(ctx.threads);  // Debian's oneDNN runs on the OpenMP runtime
  const dnnl_status_t status =
      dnnl_sgemm('N', 'N', m, n, k, 1.0f, op.a, std::max<std::int64_t>(op.lda, 1), op.b,
                 std::max<std::int64_t>(op.ldb, 1), 0.0f, op.c, std::max<std::int64_t>(op.ldc, 1));
  if (status != dnnl_success)
    throw std::runtime_error("onednn: dnnl_sgemm failed with status " + std::to_string(int(status)));
}
const char* (*const onednn_unavailable)() = nullptr;
std::string onednn_choice() { return onednn_version_and_isa() + ", its JIT kernels for that ISA"; }
std::string (*const onednn_detail)() = onednn_choice;
#else
void onednn(const Operands&, const RunContext&) {
  throw std::logic_error("onednn: not built into this binary");
}
const char* onednn_missing() { return "not built: libdnnl-dev was not found at configure time"; }
const char* (*const onednn_unavailable)() = onednn_missing;
std::string (*const onednn_detail)() = nullptr;
#endif

}  // namespace

extern const GemmVariant kCpuOnednn{
    .name = "onednn",
    .role = Role::peer,
    .multithreaded = true,
    .idea = "oneDNN dnnl_sgemm (JIT kernels for the CPU it finds)",
    .run = onednn,
    .unavailable = onednn_unavailable,
    .detail = onednn_detail,
};

}  // namespace flopslab::gemm
