// FLOPSLAB_SIMD for everything that dispatches on the CPU, the peer libraries included.
// flopslab's own kernels read the cap through cpu_features(); OpenBLAS chooses its kernels
// while it loads, before main(), from OPENBLAS_CORETYPE, and oneDNN reads ONEDNN_MAX_CPU_ISA.
#pragma once

#include <string>
#include <vector>

namespace flopslab::bench {


// Call first in main(). Where the peers need capping, sets their variables and runs the
// program again (execv) so that OpenBLAS loads under them; otherwise returns.
void apply_simd_cap_to_peers(char** argv);

// "FLOPSLAB_SIMD=avx2: AVX-512 and AMX hidden; OpenBLAS core Haswell, oneDNN at most AVX2",
// or empty without a cap.
std::string simd_cap_summary();

}  // namespace flopslab::bench
