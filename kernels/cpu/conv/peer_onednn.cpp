// Peer: oneDNN's convolution primitives (libdnnl): forward, backward data and backward weights. oneDNN is given the freedom
// to pick its own memory layout (format "any": on x86 a channel-blocked nChw8c/nChw16c with
// JIT-generated direct kernels), and the call converts our NCHW tensors to that layout and
// back. That keeps the contract every variant here has, NCHW in and NCHW out, and is what an
// NCHW framework pays; the reorders are a few percent of a 3x3 layer. The primitive and its
// reorders are built once per shape (JIT compilation) and cached.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "kernels/cpu/conv/fused.h"
#include "kernels/cpu/onednn_status.h"
#include "kernels/registry.h"

#ifdef FLOPSLAB_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

namespace flopslab::conv {
namespace {

#ifdef FLOPSLAB_HAVE_ONEDNN

void check(dnnl_status_t status, const char* what) { onednn_check(status, "onednn convolution", what); }

// One tensor: the user's NCHW memory and, when oneDNN wants another layout, its own buffer
// and the reorder between them.
struct Tensor {
  dnnl_memory_t user = nullptr, inner = nullptr;
  dnnl_primitive_t to_inner = nullptr, to_user = nullptr;
};

// A primitive for one shape and pass, and the three tensors it touches in x, w, y order.
struct Plan {
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
  dnnl_primitive_t conv = nullptr;
  Tensor tensors[3];  // x (src or diff_src), w (weights or diff_weights), y (dst or diff_dst)
  int args[3] = {};   // the DNNL_ARG_* of each
  bool inputs[3] = {};
  std::string impl;
};

void make_tensor_on(dnnl_engine_t engine, const dnnl_memory_desc_t& user_md, const dnnl_memory_desc_t* inner_md,
                    bool input, Tensor& t) {
  check(dnnl_memory_create(&t.user, &user_md, engine, DNNL_MEMORY_NONE), "memory");
  if (dnnl_memory_desc_equal(&user_md, inner_md)) return;
  check(dnnl_memory_create(&t.inner, inner_md, engine, DNNL_MEMORY_ALLOCATE), "memory");
  dnnl_primitive_desc_t pd;
  if (input) {
    check(dnnl_reorder_primitive_desc_create(&pd, &user_md, engine, inner_md, engine, nullptr), "reorder");
    check(dnnl_primitive_create(&t.to_inner, pd), "reorder");
  } else {
    check(dnnl_reorder_primitive_desc_create(&pd, inner_md, engine, &user_md, engine, nullptr), "reorder");
    check(dnnl_primitive_create(&t.to_user, pd), "reorder");
  }
  dnnl_primitive_desc_destroy(pd);
}

std::unique_ptr<Plan> make_plan(const Shape& s, Pass pass) {
  auto plan = std::make_unique<Plan>();
  check(dnnl_engine_create(&plan->engine, dnnl_cpu, 0), "engine");
  check(dnnl_stream_create(&plan->stream, plan->engine, dnnl_stream_default_flags), "stream");
  const dnnl_dims_t src_dims{s.n, s.c, s.h, s.w}, dst_dims{s.n, s.k, s.p(), s.q()};
  const dnnl_dims_t w_dims{s.k, s.c, s.r, s.s}, gw_dims{s.groups, s.k_per_group(), s.c_per_group(), s.r, s.s};
  dnnl_memory_desc_t user[3], any[3];  // x, w, y
  check(dnnl_memory_desc_init_by_tag(&user[0], 4, src_dims, dnnl_f32, dnnl_nchw), "memory desc");
  check(dnnl_memory_desc_init_by_tag(&user[2], 4, dst_dims, dnnl_f32, dnnl_nchw), "memory desc");
  check(dnnl_memory_desc_init_by_tag(&any[0], 4, src_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  check(dnnl_memory_desc_init_by_tag(&any[2], 4, dst_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  if (s.groups == 1) {
    check(dnnl_memory_desc_init_by_tag(&user[1], 4, w_dims, dnnl_f32, dnnl_oihw), "memory desc");
    check(dnnl_memory_desc_init_by_tag(&any[1], 4, w_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  } else {
    check(dnnl_memory_desc_init_by_tag(&user[1], 5, gw_dims, dnnl_f32, dnnl_goihw), "memory desc");
    check(dnnl_memory_desc_init_by_tag(&any[1], 5, gw_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  }
  // oneDNN counts dilation from 0 and wants the right/bottom padding that produces P x Q.
  const dnnl_dims_t strides{s.stride_h, s.stride_w}, dilates{s.dilation_h - 1, s.dilation_w - 1};
  const dnnl_dims_t pad_l{s.pad_h, s.pad_w};
  const dnnl_dims_t pad_r{(s.p() - 1) * s.stride_h + s.extent_h() - s.h - s.pad_h,
                          (s.q() - 1) * s.stride_w + s.extent_w() - s.w - s.pad_w};
  // The forward descriptor; the backward passes need a training-mode one as their hint.
  dnnl_convolution_desc_t forward;
  check(dnnl_dilated_convolution_forward_desc_init(
            &forward, pass == Pass::forward ? dnnl_forward_inference : dnnl_forward_training, dnnl_convolution_direct,
            &any[0], &any[1], nullptr, &any[2], strides, dilates, pad_l, pad_r),
        "descriptor");
  dnnl_primitive_desc_t pd, hint = nullptr;
  if (pass == Pass::forward) {
    check(dnnl_primitive_desc_create(&pd, &forward, nullptr, plan->engine, nullptr), "primitive descriptor");
  } else {
    check(dnnl_primitive_desc_create(&hint, &forward, nullptr, plan->engine, nullptr), "primitive descriptor");
    dnnl_convolution_desc_t backward;
    if (pass == Pass::backward_data)
      check(dnnl_dilated_convolution_backward_data_desc_init(&backward, dnnl_convolution_direct, &any[0], &any[1],
                                                             &any[2], strides, dilates, pad_l, pad_r),
            "descriptor");
    else
      check(dnnl_dilated_convolution_backward_weights_desc_init(&backward, dnnl_convolution_direct, &any[0], &any[1],
                                                                nullptr, &any[2], strides, dilates, pad_l, pad_r),
            "descriptor");
    check(dnnl_primitive_desc_create(&pd, &backward, nullptr, plan->engine, hint), "primitive descriptor");
    dnnl_primitive_desc_destroy(hint);
  }
  const char* impl = nullptr;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  plan->impl = impl != nullptr ? impl : "?";
  // Which argument each tensor is, which memory descriptor names it, and which way it flows.
  struct Role { int arg; dnnl_query_t query; bool input; };
  const Role roles[3][3] = {
      {{DNNL_ARG_SRC, dnnl_query_src_md, true}, {DNNL_ARG_WEIGHTS, dnnl_query_weights_md, true},
       {DNNL_ARG_DST, dnnl_query_dst_md, false}},
      {{DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, false}, {DNNL_ARG_WEIGHTS, dnnl_query_weights_md, true},
       {DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, true}},
      {{DNNL_ARG_SRC, dnnl_query_src_md, true}, {DNNL_ARG_DIFF_WEIGHTS, dnnl_query_diff_weights_md, false},
       {DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, true}},
  };
  for (int i = 0; i < 3; ++i) {
    const Role& role = roles[int(pass)][i];
    plan->args[i] = role.arg;
    plan->inputs[i] = role.input;
    make_tensor_on(plan->engine, user[i], dnnl_primitive_desc_query_md(pd, role.query, 0), role.input, plan->tensors[i]);
  }
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

// oneDNN splits a primitive's work for the OpenMP thread count when the primitive is made and
// keeps that split, so the count is set first and is part of the key: a plan made for 2 threads
// and run with 1 still ran on 2 (a 1-thread convolution "peer" at 180 GFLOP/s, past one core's
// 118).
Plan& plan_for(const Shape& s, Pass pass, int threads) {
  omp_set_num_threads(threads);  // Debian's oneDNN runs on the OpenMP runtime
  const std::string key = describe(s) + ", " + pass_name(pass) + ", " + std::to_string(threads) + " threads";
  std::lock_guard lock(plans_mutex);
  auto& slot = plans()[key];
  if (!slot) slot = make_plan(s, pass);
  last_impl = slot->impl;
  return *slot;
}

void reorder(dnnl_primitive_t reorder, dnnl_memory_t from, dnnl_memory_t to, dnnl_stream_t stream) {
  const dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  check(dnnl_primitive_execute(reorder, stream, 2, args), "reorder");
}

void onednn_run(const Operands& op, const RunContext& ctx, Pass pass) {
  Plan& plan = plan_for(op.shape, pass, ctx.threads);
  float* const data[3] = {op.x, op.w, op.y};
  dnnl_exec_arg_t args[3];
  for (int i = 0; i < 3; ++i) {
    Tensor& t = plan.tensors[i];
    check(dnnl_memory_set_data_handle(t.user, data[i]), "memory");
    if (t.to_inner) reorder(t.to_inner, t.user, t.inner, plan.stream);
    args[i] = {plan.args[i], t.inner != nullptr ? t.inner : t.user};
  }
  check(dnnl_primitive_execute(plan.conv, plan.stream, 3, args), "convolution");
  for (Tensor& t : plan.tensors)
    if (t.to_user) reorder(t.to_user, t.inner, t.user, plan.stream);
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

// Inference with what follows the convolution fused in, as oneDNN does it: the bias in the
// primitive, the residual add as a "sum" post-op (dst already holds the residual when the
// convolution accumulates into it) and the ReLU as an "eltwise" post-op. One output slice
// becomes a strided destination, so a concatenation's slice is written in place; several
// slices (stacked 1x1 branches) go through one NCHW buffer and are copied out, a copy that
// is counted in the time.
struct FusedPlan {
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
  dnnl_primitive_t conv = nullptr;
  Tensor src, weights, dst;
  dnnl_memory_t bias = nullptr, residual = nullptr;
  dnnl_primitive_t residual_to_dst = nullptr;  // the residual reordered into oneDNN's dst layout
  std::vector<float> staging;                   // NCHW output when there are several slices
};

std::unique_ptr<FusedPlan> make_fused_plan(const cpu::FusedConv& layer) {
  const Shape& s = layer.shape;
  auto plan = std::make_unique<FusedPlan>();
  check(dnnl_engine_create(&plan->engine, dnnl_cpu, 0), "engine");
  check(dnnl_stream_create(&plan->stream, plan->engine, dnnl_stream_default_flags), "stream");
  const std::int64_t P = s.p(), Q = s.q();
  const dnnl_dims_t src_dims{s.n, s.c, s.h, s.w}, dst_dims{s.n, s.k, P, Q}, bias_dims{s.k};
  const dnnl_dims_t w_dims{s.k, s.c, s.r, s.s}, gw_dims{s.groups, s.k_per_group(), s.c_per_group(), s.r, s.s};
  dnnl_memory_desc_t src_user, src_any, w_user, w_any, dst_user, dst_any, bias_md, residual_md;
  check(dnnl_memory_desc_init_by_tag(&src_user, 4, src_dims, dnnl_f32, dnnl_nchw), "memory desc");
  check(dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  if (s.groups == 1) {
    check(dnnl_memory_desc_init_by_tag(&w_user, 4, w_dims, dnnl_f32, dnnl_oihw), "memory desc");
    check(dnnl_memory_desc_init_by_tag(&w_any, 4, w_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  } else {
    check(dnnl_memory_desc_init_by_tag(&w_user, 5, gw_dims, dnnl_f32, dnnl_goihw), "memory desc");
    check(dnnl_memory_desc_init_by_tag(&w_any, 5, gw_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  }
  const std::int64_t dst_image = layer.outputs.size() == 1 ? layer.outputs[0].image_stride : s.k * P * Q;
  const dnnl_dims_t dst_strides{dst_image, P * Q, Q, 1};
  check(dnnl_memory_desc_init_by_strides(&dst_user, 4, dst_dims, dnnl_f32, dst_strides), "memory desc");
  check(dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
  check(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_a), "memory desc");
  const dnnl_dims_t residual_strides{layer.residual_image_stride, P * Q, Q, 1};
  check(dnnl_memory_desc_init_by_strides(&residual_md, 4, dst_dims, dnnl_f32, residual_strides), "memory desc");

  const dnnl_dims_t strides{s.stride_h, s.stride_w}, dilates{s.dilation_h - 1, s.dilation_w - 1};
  const dnnl_dims_t pad_l{s.pad_h, s.pad_w};
  const dnnl_dims_t pad_r{(P - 1) * s.stride_h + s.extent_h() - s.h - s.pad_h,
                          (Q - 1) * s.stride_w + s.extent_w() - s.w - s.pad_w};
  dnnl_convolution_desc_t desc;
  check(dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src_any,
                                                   &w_any, &bias_md, &dst_any, strides, dilates, pad_l, pad_r),
        "descriptor");
  dnnl_post_ops_t post_ops;
  check(dnnl_post_ops_create(&post_ops), "post-ops");
  if (layer.residual != nullptr) check(dnnl_post_ops_append_sum(post_ops, 1.0f), "post-ops");
  if (layer.relu) check(dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "post-ops");
  dnnl_primitive_attr_t attr;
  check(dnnl_primitive_attr_create(&attr), "attributes");
  check(dnnl_primitive_attr_set_post_ops(attr, post_ops), "attributes");
  dnnl_primitive_desc_t pd;
  check(dnnl_primitive_desc_create(&pd, &desc, attr, plan->engine, nullptr), "primitive descriptor");
  dnnl_post_ops_destroy(post_ops);
  dnnl_primitive_attr_destroy(attr);

  make_tensor_on(plan->engine, src_user, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), true, plan->src);
  make_tensor_on(plan->engine, w_user, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), true,
                 plan->weights);
  const dnnl_memory_desc_t* dst_inner = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  make_tensor_on(plan->engine, dst_user, dst_inner, false, plan->dst);
  check(dnnl_memory_create(&plan->bias, &bias_md, plan->engine, DNNL_MEMORY_NONE), "memory");
  if (layer.residual != nullptr) {
    // The sum post-op accumulates into dst: the residual goes there first, in dst's layout.
    check(dnnl_memory_create(&plan->residual, &residual_md, plan->engine, DNNL_MEMORY_NONE), "memory");
    dnnl_primitive_desc_t reorder_pd;
    check(dnnl_reorder_primitive_desc_create(&reorder_pd, &residual_md, plan->engine, dst_inner, plan->engine, nullptr),
          "reorder");
    check(dnnl_primitive_create(&plan->residual_to_dst, reorder_pd), "reorder");
    dnnl_primitive_desc_destroy(reorder_pd);
  }
  if (layer.outputs.size() > 1) plan->staging.resize(std::size_t(s.n * s.k * P * Q));
  check(dnnl_primitive_create(&plan->conv, pd), "primitive");
  dnnl_primitive_desc_destroy(pd);
  return plan;
}

std::map<std::string, std::unique_ptr<FusedPlan>>& fused_plans() {
  static auto* cache = new std::map<std::string, std::unique_ptr<FusedPlan>>();  // lives until exit
  return *cache;
}

}  // namespace

namespace cpu {

void onednn_fused_forward(const FusedConv& layer, const float* x, int threads) {
  if (const std::string problem = fused_conv_problem(layer); !problem.empty())
    throw std::invalid_argument("onednn fused convolution: " + problem);
  if (layer.scale != nullptr)
    throw std::invalid_argument("onednn fused convolution: a per-channel scale must be folded into the weights first");
  const Shape& s = layer.shape;
  const std::string key = describe(s) + (layer.residual ? ", sum " + std::to_string(layer.residual_image_stride) : "") +
                          (layer.relu ? ", relu" : "") + ", outputs " + std::to_string(layer.outputs.size()) + " " +
                          std::to_string(layer.outputs.size() == 1 ? layer.outputs[0].image_stride : 0) + ", " +
                          std::to_string(threads) + " threads";
  omp_set_num_threads(threads);  // before the plan: see plan_for
  FusedPlan* plan;
  {
    std::lock_guard lock(plans_mutex);
    auto& slot = fused_plans()[key];
    if (!slot) slot = make_fused_plan(layer);
    plan = slot.get();
  }
  std::vector<float> zero_bias;
  const float* bias = layer.shift;
  if (bias == nullptr) bias = (zero_bias.assign(std::size_t(s.k), 0.0f), zero_bias.data());
  float* const out = plan->staging.empty() ? layer.outputs[0].base : plan->staging.data();
  check(dnnl_memory_set_data_handle(plan->src.user, const_cast<float*>(x)), "memory");
  check(dnnl_memory_set_data_handle(plan->weights.user, const_cast<float*>(layer.weight)), "memory");
  check(dnnl_memory_set_data_handle(plan->dst.user, out), "memory");
  check(dnnl_memory_set_data_handle(plan->bias, const_cast<float*>(bias)), "memory");
  for (Tensor* t : {&plan->src, &plan->weights})
    if (t->to_inner) reorder(t->to_inner, t->user, t->inner, plan->stream);
  dnnl_memory_t dst = plan->dst.inner != nullptr ? plan->dst.inner : plan->dst.user;
  if (plan->residual_to_dst != nullptr) {
    check(dnnl_memory_set_data_handle(plan->residual, const_cast<float*>(layer.residual)), "memory");
    reorder(plan->residual_to_dst, plan->residual, dst, plan->stream);
  }
  const dnnl_exec_arg_t args[] = {
      {DNNL_ARG_SRC, plan->src.inner != nullptr ? plan->src.inner : plan->src.user},
      {DNNL_ARG_WEIGHTS, plan->weights.inner != nullptr ? plan->weights.inner : plan->weights.user},
      {DNNL_ARG_BIAS, plan->bias},
      {DNNL_ARG_DST, dst}};
  check(dnnl_primitive_execute(plan->conv, plan->stream, 4, args), "convolution");
  if (plan->dst.to_user) reorder(plan->dst.to_user, plan->dst.inner, plan->dst.user, plan->stream);
  check(dnnl_stream_wait(plan->stream), "stream wait");
  if (plan->staging.empty()) return;
  const std::int64_t plane = s.p() * s.q();
  for (std::int64_t n = 0; n < s.n; ++n) {
    std::int64_t channel = 0;
    for (const OutputSlice& slice : layer.outputs) {
      std::memcpy(slice.base + n * slice.image_stride, out + (n * s.k + channel) * plane,
                  std::size_t(slice.channels * plane) * sizeof(float));
      channel += slice.channels;
    }
  }
}

const char* onednn_fused_unavailable() { return nullptr; }

}  // namespace cpu

namespace {

const char* (*const onednn_unavailable)() = nullptr;
std::string (*const onednn_detail_fn)() = onednn_detail;
#else
void onednn_run(const Operands&, const RunContext&, Pass) {
  throw std::logic_error("onednn convolution: not built into this binary");
}
const char* onednn_missing() { return "not built: libdnnl-dev was not found at configure time"; }
}  // namespace
namespace cpu {
void onednn_fused_forward(const FusedConv&, const float*, int) {
  throw std::logic_error("onednn fused convolution: not built into this binary");
}
const char* onednn_fused_unavailable() { return onednn_missing(); }
}  // namespace cpu
namespace {
const char* (*const onednn_unavailable)() = onednn_missing;
std::string (*const onednn_detail_fn)() = nullptr;
#endif

template <Pass kPass>
void onednn_pass(const Operands& op, const RunContext& ctx) {
  onednn_run(op, ctx, kPass);
}

}  // namespace

extern const ConvVariant kCpuOnednnConv{
    .name = "onednn",
    .role = Role::peer,
    .multithreaded = true,
    .idea = "oneDNN convolution primitives (JIT direct kernels on its blocked layout), all three passes",
    .forward = onednn_pass<Pass::forward>,
    .backward_data = onednn_pass<Pass::backward_data>,
    .backward_weights = onednn_pass<Pass::backward_weights>,
    .unavailable = onednn_unavailable,
    .detail = onednn_detail_fn,
};

}  // namespace flopslab::conv
