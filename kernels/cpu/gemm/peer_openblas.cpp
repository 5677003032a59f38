// Peer: OpenBLAS cblas_sgemm, the BLAS most Linux distributions ship. A reference line in
// every table, not a rung of the ladder. Built only when libopenblas-dev is found.
#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>

#include "kernels/cpu/every_cpu.h"
#include "kernels/registry.h"

#ifdef FLOPSLAB_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace flopslab::gemm {
namespace {

#ifdef FLOPSLAB_HAVE_OPENBLAS
void openblas(const Operands& op, const RunContext& ctx) {
  const auto [m, n, k] = op.shape;
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  if (m > kIntMax || n > kIntMax || k > kIntMax || op.lda > kIntMax || op.ldb > kIntMax ||
      op.ldc > kIntMax)
    throw std::invalid_argument("openblas: dimensions exceed the 32-bit BLAS interface");
  static int current_threads = 0;  // setting the count costs a lock; only change it
  if (ctx.threads != current_threads) {
    openblas_set_num_threads(ctx.threads);
    current_threads = ctx.threads;
  }
  // Debian's libopenblas is the pthread build: its workers follow the caller's placement
  // (kernels/cpu/every_cpu.h).
  std::optional<cpu::EveryCpu> unpinned;
  if (ctx.threads > 1) unpinned.emplace();
  // BLAS requires leading dimensions >= 1 even for empty matrices.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k), 1.0f, op.a,
              int(std::max<std::int64_t>(op.lda, 1)), op.b, int(std::max<std::int64_t>(op.ldb, 1)),
              0.0f, op.c, int(std::max<std::int64_t>(op.ldc, 1)));
}
const char* (*const openblas_unavailable)() = nullptr;
// OpenBLAS picks its kernels from CPUID when loaded; a CPU newer than the library falls back
// to an older core's kernels, which explains many slow OpenBLAS rows.
std::string openblas_choice() { return std::string("kernels for core ") + openblas_get_corename(); }
std::string (*const openblas_detail)() = openblas_choice;
#else
void openblas(const Operands&, const RunContext&) {
  throw std::logic_error("openblas: not built into this binary");
}
const char* openblas_missing() { return "not built: libopenblas-dev was not found at configure time"; }
const char* (*const openblas_unavailable)() = openblas_missing;
std::string (*const openblas_detail)() = nullptr;
#endif

}  // namespace

extern const GemmVariant kCpuOpenblas{
    .name = "openblas",
    .role = Role::peer,
    .multithreaded = true,
    .idea = "OpenBLAS cblas_sgemm (kernels for the core it detects when it loads; OPENBLAS_CORETYPE overrides)",
    .run = openblas,
    .unavailable = openblas_unavailable,
    .detail = openblas_detail,
};

}  // namespace flopslab::gemm
