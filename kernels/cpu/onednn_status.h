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

}  // namespace flopslab
#endif
