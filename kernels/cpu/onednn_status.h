// What the oneDNN peers do with a failed call: throw, naming the peer, the call and the status.
#pragma once

#ifdef FLOPSLAB_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>

#include <stdexcept>
#include <string>

namespace flopslab {

inline void onednn_check(dnnl_status_t status, const char* peer, const char* what) {
  if (status != dnnl_success)
    throw std::runtime_error(std::string(peer) + ": " + what + " failed with status " + std::to_string(int(status)));
}

// "oneDNN 2.6.3 (ISA avx2)": the version and the widest instruction set it uses here (which
// ONEDNN_MAX_CPU_ISA, and so FLOPSLAB_SIMD, may narrow).
inline std::string onednn_version_and_isa() {
  const dnnl_version_t* v = dnnl_version();
  const char* isa = "?";
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: isa = "sse41"; break;
    case dnnl_cpu_isa_avx: isa = "avx"; break;
    case dnnl_cpu_isa_avx2: isa = "avx2"; break;
    case dnnl_cpu_isa_avx2_vnni: isa = "avx2_vnni"; break;
    case dnnl_cpu_isa_avx512_core: isa = "avx512_core"; break;
    case dnnl_cpu_isa_avx512_core_vnni: isa = "avx512_core_vnni"; break;
    case dnnl_cpu_isa_avx512_core_bf16: isa = "avx512_core_bf16"; break;
    case dnnl_cpu_isa_avx512_core_amx: isa = "avx512_core_amx"; break;
    default: break;
  }
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
         " (ISA " + isa + ")";
}

}  // namespace flopslab
#endif
