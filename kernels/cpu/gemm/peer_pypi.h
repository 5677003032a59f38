// Peers: the opt-in GEMM libraries loaded at run time from the wheels `scripts/setup-peers --blas`
// installs (PyPI's newest oneMKL and OpenBLAS), beside Debian's OpenBLAS and oneDNN, which are
// linked in. Each is opened with deep binding (kernels/shared_library.h), so two OpenBLAS
// versions in one process never call into each other. A machine without them runs everything
// else: their variants say they are not installed and how to install them.
#pragma once

#include <string>

namespace flopslab::gemm::peers {

// $FLOPSLAB_PEERS_DIR when set, else the source tree's .peers (where setup-peers installs).
std::string peers_dir();

// What loading one peer library found: `problem` is empty when it is usable, else one
// sentence naming what is missing; `version` ("2026.2.1") and `detail` (the version and the
// code path or core the library chose on this CPU) are set when it loaded.
struct PeerLibrary {
  std::string problem, version, detail;
};
// Loads (once per path) and describes oneMKL's single dynamic library (libmkl_rt.so.3) and
// scipy-openblas32's libscipy_openblas.so at `path`; the variants use the default paths below.
const PeerLibrary& mkl_library(const std::string& path);
const PeerLibrary& openblas_pypi_library(const std::string& path);
std::string default_mkl_path();            // <peers>/blas/lib/libmkl_rt.so.3
std::string default_openblas_pypi_path();  // <peers>/blas/lib/libscipy_openblas.so (a link setup-peers makes)

}  // namespace flopslab::gemm::peers
