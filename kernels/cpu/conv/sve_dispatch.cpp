// Which fixed-length SVE copy of the convolution tiles (sve_tiles.cpp) this process runs: the
// one compiled for its vector length, where the build made one.
#include "kernels/cpu/conv/register_tiles.h"
#include "kernels/cpu/cpu_features.h"

namespace flopslab::conv::cpu {

#if defined(FLOPSLAB_HAVE_SVE_TILES)
const DirectKernel* direct_kernel_sve256();
const DirectKernel* direct_kernel_sve512();
const WeightGradKernel* weight_grad_kernel_sve256();
const WeightGradKernel* weight_grad_kernel_sve512();
DepthwiseRowsFn depthwise_rows_sve256();
DepthwiseRowsFn depthwise_rows_sve512();

namespace {
int sve_bits_here() { return cpu_features().can_sve() ? cpu_features().sve_bits : 0; }
}  // namespace

const DirectKernel* direct_kernel_sve() {
  const int bits = sve_bits_here();
  return bits == 512 ? direct_kernel_sve512() : bits == 256 ? direct_kernel_sve256() : nullptr;
}
const WeightGradKernel* weight_grad_kernel_sve() {
  const int bits = sve_bits_here();
  return bits == 512 ? weight_grad_kernel_sve512() : bits == 256 ? weight_grad_kernel_sve256() : nullptr;
}
DepthwiseRowsFn depthwise_rows_sve() {
  const int bits = sve_bits_here();
  return bits == 512 ? depthwise_rows_sve512() : bits == 256 ? depthwise_rows_sve256() : nullptr;
}
#else
const DirectKernel* direct_kernel_sve() { return nullptr; }
const WeightGradKernel* weight_grad_kernel_sve() { return nullptr; }
DepthwiseRowsFn depthwise_rows_sve() { return nullptr; }
#endif

}  // namespace flopslab::conv::cpu
