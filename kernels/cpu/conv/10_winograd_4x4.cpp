// Step 10: Winograd F(4x4, 3x3): a 4x4 output tile from a 6x6 input tile, 36 GEMMs, 4x fewer
// multiplications, paid for with transforms whose coefficients (4s, 5s, 1/6, 1/24) round about
// 5x more than the direct sum. The algorithm, its error and its speed: kernels/cpu/conv/winograd.h.
#include "kernels/cpu/conv/winograd.h"
#include "kernels/registry.h"

namespace flopslab::conv::cpu::winograd {
template <>
struct Transforms<4> {
  static constexpr int t = 6;
  static constexpr float bt[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                     {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr float g[6][3] = {{1.0f / 4, 0, 0},
                                    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                    {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                    {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                    {0, 0, 1}};
  static constexpr float at[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};
}  // namespace flopslab::conv::cpu::winograd

FLOPSLAB_WINOGRAD_TILE_FUNCTIONS(4)

namespace flopslab::conv {
// The error the checker allows, stated as the roundoff of a perturbed input (see
// ConvVariant::input_roundoff) over each 4x4 output block's largest magnitude: set from the
// transforms' growth, twice the worst measured. One input channel is the worst case (nothing
// averages the tile's rounding out): 64x1x28x28 and 128x1x28x28 with 16 or 32 filters, every
// output compared, reached 72-78% of 2^-18's bound; 2^-17 leaves that tail room.
extern const ConvVariant kCpuWinograd4x4{
    .name = "winograd-4x4",
    .step = 10,
    .multithreaded = true,
    .idea = "Winograd F(4x4,3x3): 36 GEMMs over transformed 6x6 tiles, 4x fewer multiplications, more rounding",
    .forward = cpu::winograd::forward<4, cpu::input_tiles_4, cpu::output_tiles_4>,
    .unsupported = cpu::winograd::unsupported,
    .input_roundoff = 0x1p-17,
    .error_block = 4,
};
}  // namespace flopslab::conv
