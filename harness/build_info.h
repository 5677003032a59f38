// How this binary was built. The definition is generated at build time by
// cmake/build_info.cmake, so the git commit is current after every rebuild.
#pragma once

namespace flopslab {

struct BuildInfo {
  const char* version;
  const char* git_commit;  // short hash, or "unknown" outside a git checkout
  bool git_dirty;          // tracked files differed from the commit when built
  const char* compiler;    // "GNU 12.2.0"
  const char* build_type;  // "Release"
  const char* cxx_flags;   // the flags the build type adds, plus CMAKE_CXX_FLAGS
  const char* cuda;        // "nvcc 13.0.88, sm 75-real;80-real;90" or "not built"
  const char* cudnn;       // version, or "not built"
  const char* openblas;    // version, or "not built"
  const char* onednn;      // version, or "not built"
  const char* source_dir;  // where scripts/plot lives
};

const BuildInfo& build_info();

}  // namespace flopslab
