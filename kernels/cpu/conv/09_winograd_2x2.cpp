// Step 9: Winograd F(2x2, 3x3): a 2x2 output tile from a 4x4 input tile, 16 GEMMs over the
// transformed tiles, 2.25x fewer multiplications than the direct sum; its short sums round less
// than the direct kernel's. The algorithm, its error and its speed: kernels/cpu/conv/winograd.h.
#include "kernels/cpu/conv/winograd.h"
#include "kernels/registry.h"

namespace flopslab::conv::cpu::winograd {
template <>
struct Transforms<2> {
  static constexpr int t = 4;
  static constexpr float bt[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr float g[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
  static constexpr float at[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};
}  // namespace flopslab::conv::cpu::winograd

FLOPSLAB_WINOGRAD_TILE_FUNCTIONS(2)

namespace flopslab::conv {
// The error the checker allows, stated as the roundoff of a perturbed input (see
// ConvVariant::input_roundoff): set from the transforms' growth, and measured well inside it
// on the shared shape list (tests/test_conv.cpp).
extern const ConvVariant kCpuWinograd2x2{
    .name = "winograd-2x2",
    .step = 9,
    .multithreaded = true,
    .idea = "Winograd F(2x2,3x3): 16 GEMMs over transformed 4x4 tiles, 2.25x fewer multiplications",
    .forward = cpu::winograd::forward<2, cpu::input_tiles_2, cpu::output_tiles_2>,
    .unsupported = cpu::winograd::unsupported,
    .input_roundoff = 0x1p-21,
    .error_block = 2,
};
}  // namespace flopslab::conv
