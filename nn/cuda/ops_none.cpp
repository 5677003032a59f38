// nn/cuda/ops.h in a build without CUDA (nn/cuda/ops.cu otherwise): no tensor can be on the GPU
// there, so none of these is reached; they say why if one ever is.
#include "nn/cuda/ops.h"
#include "nn/device.h"

namespace flopslab::nn::gpu {

void gemm(gemm::Shape, const float*, std::int64_t, const float*, std::int64_t, float*, std::int64_t, GpuBackend,
          Precision) {
  no_cuda("gpu::gemm");
}
void require_gpu_precision(const Module& layer, const Context&) { no_cuda(layer.describe()); }
void scale(float*, std::int64_t, float) { no_cuda("gpu::scale"); }
bool scale_and_check_finite(const std::vector<std::pair<float*, std::int64_t>>&, float) {
  no_cuda("gpu::scale_and_check_finite");
}
void transpose(const float*, std::int64_t, std::int64_t, float*) { no_cuda("gpu::transpose"); }
void add_row_vector(float*, const float*, std::int64_t, std::int64_t) { no_cuda("gpu::add_row_vector"); }
void column_sums(const float*, std::int64_t, std::int64_t, float*) { no_cuda("gpu::column_sums"); }
void conv_pass(conv::Pass, const conv::Operands&, GpuBackend) { no_cuda("gpu::conv_pass"); }
void add_channel_vector(float*, const float*, std::int64_t, std::int64_t, std::int64_t) {
  no_cuda("gpu::add_channel_vector");
}
void channel_sums(const float*, std::int64_t, std::int64_t, std::int64_t, float*) { no_cuda("gpu::channel_sums"); }
void multiply(const float*, const float*, float*, std::int64_t) { no_cuda("gpu::multiply"); }
void add_in_place(float*, const float*, std::int64_t) { no_cuda("gpu::add_in_place"); }
void channel_shuffle(const float*, float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t) {
  no_cuda("gpu::channel_shuffle");
}

}  // namespace flopslab::nn::gpu
