// Peer of step 6: oneDNN's matmul primitive on bf16 operands with a float32 result, the
// library's own mixed-precision GEMM (its AVX512_BF16 or AMX kernels where the CPU has them).
// Our float32 A and B are reordered to bf16 inside the call, as step 6 rounds them while
// packing, so both pay for the conversion. Primitives are created once per shape and cached.
#include <omp.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

#include "kernels/cpu/onednn_status.h"
#include "kernels/registry.h"

#ifdef FLOPSLAB_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

namespace flopslab::gemm {
namespace {

#ifdef FLOPSLAB_HAVE_ONEDNN

void check(dnnl_status_t status, const char* what) { onednn_check(status, "onednn-bf16", what); }

// A matmul and the two float32 -> bf16 reorders in front of it, for one shape and set of
// leading dimensions.
struct Plan {
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
  dnnl_primitive_t matmul = nullptr, to_bf16[2] = {nullptr, nullptr};
  dnnl_memory_t user[3] = {}, bf16[2] = {};  // user: A, B (float32), C (float32); bf16: A, B
  std::string impl;
};

dnnl_memory_desc_t matrix(std::int64_t rows, std::int64_t cols, std::int64_t ld, dnnl_data_type_t type) {
  dnnl_memory_desc_t md;
  const dnnl_dims_t dims{rows, cols}, strides{std::max<std::int64_t>(ld, 1), 1};
  check(dnnl_memory_desc_init_by_strides(&md, 2, dims, type, strides), "memory desc");
  return md;
}

std::unique_ptr<Plan> make_plan(const Operands& op) {
  const auto [m, n, k] = op.shape;
  auto plan = std::make_unique<Plan>();
  check(dnnl_engine_create(&plan->engine, dnnl_cpu, 0), "engine");
  check(dnnl_stream_create(&plan->stream, plan->engine, dnnl_stream_default_flags), "stream");
  const dnnl_memory_desc_t a32 = matrix(m, k, op.lda, dnnl_f32), b32 = matrix(k, n, op.ldb, dnnl_f32);
  const dnnl_memory_desc_t a16 = matrix(m, k, k, dnnl_bf16), b16 = matrix(k, n, n, dnnl_bf16);
  const dnnl_memory_desc_t c32 = matrix(m, n, op.ldc, dnnl_f32);
  check(dnnl_memory_create(&plan->user[0], &a32, plan->engine, DNNL_MEMORY_NONE), "memory");
  check(dnnl_memory_create(&plan->user[1], &b32, plan->engine, DNNL_MEMORY_NONE), "memory");
  check(dnnl_memory_create(&plan->user[2], &c32, plan->engine, DNNL_MEMORY_NONE), "memory");
  check(dnnl_memory_create(&plan->bf16[0], &a16, plan->engine, DNNL_MEMORY_ALLOCATE), "memory");
  check(dnnl_memory_create(&plan->bf16[1], &b16, plan->engine, DNNL_MEMORY_ALLOCATE), "memory");
  const dnnl_memory_desc_t* from[2] = {&a32, &b32};
  const dnnl_memory_desc_t* to[2] = {&a16, &b16};
  for (int i = 0; i < 2; ++i) {
    dnnl_primitive_desc_t pd;
    check(dnnl_reorder_primitive_desc_create(&pd, from[i], plan->engine, to[i], plan->engine, nullptr), "reorder");
    check(dnnl_primitive_create(&plan->to_bf16[i], pd), "reorder");
    dnnl_primitive_desc_destroy(pd);
  }
  dnnl_matmul_desc_t desc;
  check(dnnl_matmul_desc_init(&desc, &a16, &b16, nullptr, &c32), "matmul desc");
  dnnl_primitive_desc_t pd;
  check(dnnl_primitive_desc_create(&pd, &desc, nullptr, plan->engine, nullptr), "matmul primitive desc");
  const char* impl = nullptr;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  plan->impl = impl != nullptr ? impl : "?";
  check(dnnl_primitive_create(&plan->matmul, pd), "matmul");
  dnnl_primitive_desc_destroy(pd);
  return plan;
}

std::mutex plans_mutex;
std::string last_impl;

Plan& plan_for(const Operands& op, int threads) {
  using Key = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, int>;
  static auto* cache = new std::map<Key, std::unique_ptr<Plan>>();  // lives until exit
  std::lock_guard lock(plans_mutex);
  std::unique_ptr<Plan>& slot = (*cache)[{op.shape.m, op.shape.n, op.shape.k, op.lda, op.ldb, op.ldc, threads}];
  if (!slot) slot = make_plan(op);
  last_impl = slot->impl;
  return *slot;
}

void onednn_bf16(const Operands& op, const RunContext& ctx) {
  const auto [m, n, k] = op.shape;
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum
    for (std::int64_t i = 0; i < m; ++i) std::fill_n(op.c + i * op.ldc, n, 0.0f);
    return;
  }
  omp_set_num_threads(ctx.threads);  // Debian's oneDNN runs on the OpenMP runtime
  Plan& plan = plan_for(op, ctx.threads);
  check(dnnl_memory_set_data_handle(plan.user[0], const_cast<float*>(op.a)), "memory");
  check(dnnl_memory_set_data_handle(plan.user[1], const_cast<float*>(op.b)), "memory");
  check(dnnl_memory_set_data_handle(plan.user[2], op.c), "memory");
  for (int i = 0; i < 2; ++i) {
    const dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, plan.user[i]}, {DNNL_ARG_TO, plan.bf16[i]}};
    check(dnnl_primitive_execute(plan.to_bf16[i], plan.stream, 2, args), "reorder");
  }
  const dnnl_exec_arg_t args[3] = {
      {DNNL_ARG_SRC, plan.bf16[0]}, {DNNL_ARG_WEIGHTS, plan.bf16[1]}, {DNNL_ARG_DST, plan.user[2]}};
  check(dnnl_primitive_execute(plan.matmul, plan.stream, 3, args), "matmul");
  check(dnnl_stream_wait(plan.stream), "stream wait");
}

// oneDNN has a bf16 matmul only where the CPU has AVX-512 (AVX512_BF16 and AMX natively, plain
// AVX-512 by conversion): asked on an AVX2 laptop, or under ONEDNN_MAX_CPU_ISA=AVX2, it says
// "unimplemented". Asked once, on a small shape; the answer does not depend on the shape.
const char* why_unavailable() {
  static const std::string reason = []() -> std::string {
    dnnl_engine_t engine = nullptr;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return "oneDNN could not create a CPU engine";
    const dnnl_memory_desc_t a = matrix(16, 16, 16, dnnl_bf16), b = matrix(16, 16, 16, dnnl_bf16),
                             c = matrix(16, 16, 16, dnnl_f32);
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd = nullptr;
    dnnl_status_t status = dnnl_matmul_desc_init(&desc, &a, &b, nullptr, &c);
    if (status == dnnl_success) status = dnnl_primitive_desc_create(&pd, &desc, nullptr, engine, nullptr);
    if (pd != nullptr) dnnl_primitive_desc_destroy(pd);
    dnnl_engine_destroy(engine);
    if (status == dnnl_success) return {};
    return onednn_version_and_isa() + " has no bf16 matmul for this CPU (status " + std::to_string(int(status)) +
           "; it needs AVX-512)";
  }();
  return reason.empty() ? nullptr : reason.c_str();
}
const char* (*const unavailable)() = why_unavailable;
std::string describe() {
  std::lock_guard lock(plans_mutex);
  return "oneDNN matmul, bf16 x bf16 -> f32" + (last_impl.empty() ? std::string() : "; last shape ran " + last_impl);
}
std::string (*const detail)() = describe;
#else
void onednn_bf16(const Operands&, const RunContext&) { throw std::logic_error("onednn-bf16: not built into this binary"); }
const char* missing() { return "not built: libdnnl-dev was not found at configure time"; }
const char* (*const unavailable)() = missing;
std::string (*const detail)() = nullptr;
#endif

}  // namespace

extern const GemmVariant kCpuOnednnBf16{
    .name = "onednn-bf16",
    .role = Role::peer,
    .multithreaded = true,
    .idea = "oneDNN matmul on bf16 operands, float32 result (the peer of step 6)",
    .run = onednn_bf16,
    .unavailable = unavailable,
    .detail = detail,
    .input_roundoff = 1.0 / 256,
};

}  // namespace flopslab::gemm
