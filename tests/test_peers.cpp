// The loader of the opt-in GEMM peers (kernels/cpu/gemm/peer_pypi.cpp) against stand-in
// libraries (fake_peer_blas.cpp): its refusals, each one sentence naming what is wrong, the
// versions and code paths it reads, and the threading layer it chooses. The real oneMKL and
// OpenBLAS wheels are never needed here.
#include <doctest/doctest.h>

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "kernels/cpu/gemm/peer_pypi.h"
#include "kernels/registry.h"

using namespace flopslab;
using gemm::peers::mkl_library;
using gemm::peers::openblas_pypi_library;

TEST_CASE("the opt-in peers' loader: refusals, versions and code paths from stand-in libraries") {
  SUBCASE("a library that is not there") {
    const std::string path = "/nonexistent/flopslab/blas/lib/libmkl_rt.so.3";
    CHECK(mkl_library(path).problem ==
          "not installed: " + path + " is missing (scripts/setup-peers --blas installs it)");
    CHECK(mkl_library(path).version.empty());
  }
  SUBCASE("a file that is not a shared library") {
    const std::filesystem::path path = std::filesystem::temp_directory_path() / "flopslab-not-a-library.so";
    std::ofstream(path) << "not ELF\n";
    const std::string problem = openblas_pypi_library(path.string()).problem;
    CHECK(problem.rfind("could not load " + path.string() + ": ", 0) == 0);
    std::filesystem::remove(path);
  }
  SUBCASE("a library without sgemm") {
    const std::string path = FAKE_PEER_BLAS_INCOMPLETE;
    CHECK(mkl_library(path).problem == path + " lacks cblas_sgemm: not a oneMKL runtime library");
    CHECK(openblas_pypi_library(path).problem == path + " lacks scipy_cblas_sgemm: not a scipy-openblas32 library");
  }
  SUBCASE("a oneMKL older than the version layout it reads") {
    const std::string path = FAKE_PEER_BLAS_OLD;
    CHECK(mkl_library(path).problem == "oneMKL 2023 at " + path + " is older than 2024, the oldest this reads");
  }
  SUBCASE("a current library: its version, code path or core, and GNU OpenMP threads") {
    const std::string path = FAKE_PEER_BLAS_CURRENT;
    const gemm::peers::PeerLibrary& mkl = mkl_library(path);
    CHECK(mkl.problem.empty());
    CHECK(mkl.version == "2099.7.3");
    CHECK(mkl.detail == "oneMKL 2099.7.3 (PyPI), code path: Fake(R) AVX2 code path");
    const gemm::peers::PeerLibrary& openblas = openblas_pypi_library(path);
    CHECK(openblas.problem.empty());
    CHECK(openblas.version == "0.3.99");
    CHECK(openblas.detail == "OpenBLAS 0.3.99 (PyPI scipy-openblas32), kernels for core Fakecore");
    // The loader set oneMKL's threading layer to GNU (3), this process's OpenMP runtime, before
    // any other call could fix it to Intel's.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    REQUIRE(handle != nullptr);
    auto layer = reinterpret_cast<int (*)()>(dlsym(handle, "fake_peer_threading_layer"));
    REQUIRE(bool(layer));
    CHECK(layer() == 3);
    dlclose(handle);
  }
}

TEST_CASE("the opt-in peers are variants that say where they are looked for") {
  // FLOPSLAB_PEERS_DIR moves the place; the variants look there on every call until found.
  const char* old = std::getenv("FLOPSLAB_PEERS_DIR");
  const std::string saved = old != nullptr ? old : "";
  setenv("FLOPSLAB_PEERS_DIR", "/nonexistent/flopslab-peers", 1);
  CHECK(gemm::peers::default_mkl_path() == "/nonexistent/flopslab-peers/blas/lib/libmkl_rt.so.3");
  CHECK(gemm::peers::default_openblas_pypi_path() == "/nonexistent/flopslab-peers/blas/lib/libscipy_openblas.so");
  for (const char* name : {"mkl", "openblas-pypi"}) {
    const GemmVariant* v = find_gemm_variant(name);
    REQUIRE(v != nullptr);
    CHECK(v->role == Role::peer);
    REQUIRE_FALSE(v->available());
    CHECK(std::string(v->unavailable()).rfind("not installed: /nonexistent/flopslab-peers/blas/lib/", 0) == 0);
  }
  if (old != nullptr) setenv("FLOPSLAB_PEERS_DIR", saved.c_str(), 1);
  else unsetenv("FLOPSLAB_PEERS_DIR");
}
