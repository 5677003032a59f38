// Peer: oneDNN's convolution primitive (libdnnl), forward pass. oneDNN is given the freedom
// to pick its own memory layout (format "any": on x86 a channel-blocked nChw8c/nChw16c with
// JIT-generated direct kernels), and the call converts our NCHW tensors to that layout and
// back. That keeps the contract every variant here has, NCHW in and NCHW out, and is what an
// NCHW framework pays; the reorders are a few percent of a 3x3 layer. The primitive and its
// reorders are built once per shape (JIT compilation) and cached.
#include <omp.h>

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "kernels/registry.h"

#ifdef FLOPSLAB_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

namespace flopslab::conv {
namespace {

#ifdef FLOPSLAB_HAVE_ONEDNN

void check(dnnl_status_t status, const char* what) {
  if (status != dnnl_success)
    throw std::runtime_error(std::string("onednn convolution: ") + what + " failed with status " +
                             std::to_string(int(status)));
}

// One tensor: the user's NCHW memory and, when oneDNN wants another layout, its own buffer
// and the reorder between them.
struct Tensor {
  dnnl_memory_t user = nullptr, inner = nullptr;
  dnnl_primitive_t to_inner = nullptr, to_user = nullptr;
};

struct Plan {
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
  dnnl_primitive_t conv = nullptr;
  Tensor src, weights, dst;
  std::string impl;
};

void make_tensor(Plan& plan, const dnnl_memory_desc_t& user_md, const dnnl_memory_desc_t* inner_md, bool input,
                 Tensor& t) {
  check(dnnl_memory_create(&t.user, &user_md, plan.engine, DNNL_MEMORY_NONE), "memory");
  if (dnnl_memory_desc_equal(&user_md, inner_md)) return;
  check(dnnl_memory_create(&t.inner, inner_md, plan.engine, DNNL_MEMORY_ALLOCATE), "memory");
  dnnl_primitive_desc_t pd;
  if (input) {
    check(dnnl_reorder_primitive_desc_create(&pd, &user_md, plan.engine, inner_md, plan.engine, nullptr), "reorder");
    check(dnnl_primitive_create(&t.to_inner, pd), "reorder");
  } else {
    check(dnnl_reorder_primitive_desc_create(&pd, inner_md, plan.engine, &user_md, plan.engine, nullptr), "reorder");
    check(dnnl_primitive_create(&t.to_user, pd), "reorder");
  }
  dnnl_primitive_desc_destroy(pd);
}

std::unique_ptr<Plan> make_plan(const Shape& s) {
  auto plan = std::make_unique<Plan>();
  check(dnnl_engine_create(&plan->engine, dnnl_cpu, 0), "engine");
  check(dnnl_stream_create(&plan->stream, plan->engine, dnnl_stream_default_flags), "stream");
  const dnnl_dims_t src_dims{s.n, s.c, s.h, s.w}, dst_dims{s.n, s.k, s.p(), s.q()};
  const dnnl_dims_t w_dims{s.k, s.c, s.r, s.s}, gw_dims{s.groups, s.k_per_group(), s.c_per_group(), s.r, s.s};
  dnnl_memory_desc_t src_user, w_user, dst_user, src_any, w_any, dst_any;
  check(dnnl_memory_desc_init_by_tag(&src_user, 4, src_dims, dnnl_f32, dnnl_nchw), "memory desc");
  check(dnnl_memory_desc_init_by_tag(&dst_user, 4, dst_dims, dnnl_f32, dnnl_nchw), "memory desc");
  check(dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  check(dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  if (s.groups == 1) {
    check(dnnl_memory_desc_init_by_tag(&w_user, 4, w_dims, dnnl_f32, dnnl_oihw), "memory desc");
    check(dnnl_memory_desc_init_by_tag(&w_any, 4, w_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  } else {
    check(dnnl_memory_desc_init_by_tag(&w_user, 5, gw_dims, dnnl_f32, dnnl_goihw), "memory desc");
    check(dnnl_memory_desc_init_by_tag(&w_any, 5, gw_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  }
  // oneDNN counts dilation from 0 and wants the right/bottom padding that produces P x Q.
  const dnnl_dims_t strides{s.stride_h, s.stride_w}, dilates{s.dilation_h - 1, s.dilation_w - 1};
  const dnnl_dims_t pad_l{s.pad_h, s.pad_w};
  const dnnl_dims_t pad_r{(s.p() - 1) * s.stride_h + s.extent_h() - s.h - s.pad_h,
                          (s.q() - 1) * s.stride_w + s.extent_w() - s.w - s.pad_w};
  dnnl_convolution_desc_t desc;
  check(dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src_any,
                                                   &w_any, nullptr, &dst_any, strides, dilates, pad_l, pad_r),
        "descriptor");
  dnnl_primitive_desc_t pd;
  check(dnnl_primitive_desc_create(&pd, &desc, nullptr, plan->engine, nullptr), "primitive descriptor");
  const char* impl = nullptr;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  plan->impl = impl != nullptr ? impl : "?";
  make_tensor(*plan, src_user, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), true, plan->src);
  make_tensor(*plan, w_user, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), true, plan->weights);
  make_tensor(*plan, dst_user, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), false, plan->dst);
  check(dnnl_primitive_create(&plan->conv, pd), "primitive");
  dnnl_primitive_desc_destroy(pd);
  return plan;
}

std::mutex plans_mutex;
std::map<std::string, std::unique_ptr<Plan>>& plans() {
  static auto* cache = new std::map<std::string, std::unique_ptr<Plan>>();  // lives until exit
  return *cache;
}
std::string last_impl;

Plan& plan_for(const Shape& s) {
  const std::string key = describe(s);
  std::lock_guard lock(plans_mutex);
  auto& slot = plans()[key];
  if (!slot) slot = make_plan(s);
  last_impl = slot->impl;
  return *slot;
}

void reorder(dnnl_primitive_t reorder, dnnl_memory_t from, dnnl_memory_t to, dnnl_stream_t stream) {
  const dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  check(dnnl_primitive_execute(reorder, stream, 2, args), "reorder");
}

void onednn_forward(const Operands& op, const RunContext& ctx) {
  Plan& plan = plan_for(op.shape);
  omp_set_num_threads(ctx.threads);  // Debian's oneDNN runs on the OpenMP runtime
  check(dnnl_memory_set_data_handle(plan.src.user, op.x), "memory");
  check(dnnl_memory_set_data_handle(plan.weights.user, op.w), "memory");
  check(dnnl_memory_set_data_handle(plan.dst.user, op.y), "memory");
  auto inner = [](Tensor& t) { return t.inner != nullptr ? t.inner : t.user; };
  if (plan.src.to_inner) reorder(plan.src.to_inner, plan.src.user, plan.src.inner, plan.stream);
  if (plan.weights.to_inner) reorder(plan.weights.to_inner, plan.weights.user, plan.weights.inner, plan.stream);
  const dnnl_exec_arg_t args[] = {
      {DNNL_ARG_SRC, inner(plan.src)}, {DNNL_ARG_WEIGHTS, inner(plan.weights)}, {DNNL_ARG_DST, inner(plan.dst)}};
  check(dnnl_primitive_execute(plan.conv, plan.stream, 3, args), "convolution");
  if (plan.dst.to_user) reorder(plan.dst.to_user, plan.dst.inner, plan.dst.user, plan.stream);
  check(dnnl_stream_wait(plan.stream), "stream wait");
}

std::string onednn_detail() {
  const dnnl_version_t* v = dnnl_version();
  std::string out = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                    std::to_string(v->patch) + " convolution, NCHW reordered to its own layout";
  std::lock_guard lock(plans_mutex);
  if (!last_impl.empty()) out += "; last shape ran " + last_impl;
  return out;
}

const char* (*const onednn_unavailable)() = nullptr;
std::string (*const onednn_detail_fn)() = onednn_detail;
#else
void onednn_forward(const Operands&, const RunContext&) {
  throw std::logic_error("onednn convolution: not built into this binary");
}
const char* onednn_missing() { return "not built: libdnnl-dev was not found at configure time"; }
const char* (*const onednn_unavailable)() = onednn_missing;
std::string (*const onednn_detail_fn)() = nullptr;
#endif

}  // namespace

extern const ConvVariant kCpuOnednnConv{
    .name = "onednn",
    .role = Role::peer,
    .multithreaded = true,
    .idea = "oneDNN convolution primitive (JIT direct kernels on its blocked layout), forward only",
    .forward = onednn_forward,
    .unavailable = onednn_unavailable,
    .detail = onednn_detail_fn,
};

}  // namespace flopslab::conv
