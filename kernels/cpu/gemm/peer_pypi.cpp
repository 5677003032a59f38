// Peers: oneMKL and OpenBLAS as PyPI ships them today (see peer_pypi.h), each a reference
// line in the GEMM tables like Debian's OpenBLAS and oneDNN, loaded only when installed.
//
// oneMKL: its single dynamic library, libmkl_rt, which loads the code for this CPU from its
// own directory. Its threading layer is set to GNU before any other call, so its threads are
// this process's libgomp threads (the Intel layer would bring a second OpenMP runtime), and
// its thread count is set per calling thread. MKL chooses its code path by CPU vendor as well
// as by instruction set (on AMD CPUs it has run AVX2 code where AVX-512 was there); the path
// it took is part of the variant's detail.
//
// OpenBLAS: scipy-openblas32, the build NumPy and SciPy ship, whose symbols carry a scipy_
// prefix (so it never collides with Debian's libopenblas, deep binding or not); 32-bit
// integers, DYNAMIC_ARCH (the core's kernels chosen when it loads). Its threads are its own
// pthreads: it is loaded, and called, with the calling thread allowed on every CPU
// (kernels/cpu/every_cpu.h says why).
#include "kernels/cpu/gemm/peer_pypi.h"

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

#include "kernels/cpu/every_cpu.h"
#include "kernels/registry.h"
#include "kernels/shared_library.h"

namespace flopslab::gemm::peers {
namespace {

// CBLAS's enum values, the same in every implementation.
constexpr int kRowMajor = 101, kNoTrans = 111;
constexpr int kMklThreadingGnu = 3;  // MKL_THREADING_GNU (mkl_service.h)
using Sgemm = void(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);

// mkl_types.h's MKLVersion as oneMKL 2024 and later lay it out (PatchVersion is newer than
// the rest): read past MajorVersion only for such versions.
struct MklVersion {
  int major, minor, update, patch;
  const char *product_status, *build, *processor, *platform;
};

struct Loaded {
  PeerLibrary info;
  Sgemm* sgemm = nullptr;
  int (*set_threads)(int) = nullptr;  // MKL_Set_Num_Threads_Local or scipy_openblas_set_num_threads
  void (*set_threads_void)(int) = nullptr;
  bool own_threads = false;  // pthreads of its own (OpenBLAS), not this process's OpenMP team
};


// The library at `path`, opened with deep binding and never closed (its code may run until
// exit); null, with out.info.problem set, where it is missing or does not load. Called under
// loaded()'s lock.
SharedLibrary* open_peer(const std::string& path, Loaded& out) {
  if (!std::filesystem::exists(path)) {
    out.info.problem = "not installed: " + path + " is missing (scripts/setup-peers --blas installs it)";
    return nullptr;
  }
  static std::list<SharedLibrary> opened;  // stable addresses, kept for the process's life
  SharedLibrary& lib = opened.emplace_back(path.c_str(), SharedLibrary::Binding::deep);
  if (!lib.loaded()) out.info.problem = "could not load " + path + ": " + lib.error();
  return lib.loaded() ? &lib : nullptr;
}

// `out` with its problem said and no sgemm to call.
Loaded refused(Loaded out, std::string problem) {
  out.info.problem = std::move(problem);
  out.sgemm = nullptr;
  return out;
}

Loaded load_mkl(const std::string& path) {
  Loaded out;
  SharedLibrary* lib = open_peer(path, out);
  if (lib == nullptr) return out;
  int (*set_layer)(int) = nullptr;
  void (*get_version)(MklVersion*) = nullptr;
  lib->bind(set_layer, "MKL_Set_Threading_Layer");
  lib->bind(get_version, "MKL_Get_Version");
  lib->bind(out.set_threads, "MKL_Set_Num_Threads_Local");
  lib->bind(out.sgemm, "cblas_sgemm");
  if (!lib->first_missing().empty())
    return refused(out, path + " lacks " + lib->first_missing() + ": not a oneMKL runtime library");
  // Before any other call: the first one fixes the threading layer.
  set_layer(kMklThreadingGnu);
  MklVersion v{};
  get_version(&v);
  if (v.major < 2024)
    return refused(out, "oneMKL " + std::to_string(v.major) + " at " + path + " is older than 2024, the oldest this reads");
  // oneMKL numbers its releases year.update(.patch): 2026.2.1 is MajorVersion 2026,
  // UpdateVersion 2, PatchVersion 1 (MinorVersion 0).
  out.info.version = std::to_string(v.major) + (v.minor != 0 ? "." + std::to_string(v.minor) : "") + "." +
                     std::to_string(v.update) + (v.patch != 0 ? "." + std::to_string(v.patch) : "");
  // Processor: the code path it chose, by vendor as well as instruction set ("Intel(R)
  // Architecture processors", its generic path, on AMD CPUs).
  out.info.detail = "oneMKL " + out.info.version + " (PyPI), code path: " +
                    std::string(v.processor != nullptr ? v.processor : "not said");
  return out;
}

Loaded load_openblas_pypi(const std::string& path) {
  Loaded out;
  const cpu::EveryCpu unpinned;  // its thread pool starts as it loads
  SharedLibrary* lib = open_peer(path, out);
  if (lib == nullptr) return out;
  out.own_threads = true;
  char* (*config)() = nullptr;
  char* (*corename)() = nullptr;
  lib->bind(config, "scipy_openblas_get_config");
  lib->bind(corename, "scipy_openblas_get_corename");
  lib->bind(out.set_threads_void, "scipy_openblas_set_num_threads");
  lib->bind(out.sgemm, "scipy_cblas_sgemm");
  if (!lib->first_missing().empty())
    return refused(out, path + " lacks " + lib->first_missing() + ": not a scipy-openblas32 library");
  // "OpenBLAS 0.3.34  DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64": the version is the
  // second word.
  const std::string text = config();
  const std::size_t start = text.find(' ') == std::string::npos ? text.size() : text.find(' ') + 1;
  out.info.version = text.substr(start, text.find(' ', start) - start);
  out.info.detail = "OpenBLAS " + out.info.version + " (PyPI scipy-openblas32), kernels for core " + corename();
  return out;
}

// Each library is loaded once per (loader, path); map nodes never move, so what callers hold
// stays valid.
using Loader = Loaded (*)(const std::string&);
const Loaded& loaded(const std::string& path, Loader load) {
  static std::mutex mutex;
  static std::map<std::pair<Loader, std::string>, Loaded> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find({load, path});
  if (it == cache.end()) it = cache.emplace(std::make_pair(load, path), load(path)).first;
  return it->second;
}

const Loaded& mkl() { return loaded(default_mkl_path(), load_mkl); }
const Loaded& openblas_pypi() { return loaded(default_openblas_pypi_path(), load_openblas_pypi); }

void run_sgemm(const Loaded& lib, const char* name, const Operands& op, const RunContext& ctx) {
  if (lib.sgemm == nullptr) throw std::logic_error(std::string(name) + ": " + lib.info.problem);
  const auto [m, n, k] = op.shape;
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  if (m > kIntMax || n > kIntMax || k > kIntMax || op.lda > kIntMax || op.ldb > kIntMax || op.ldc > kIntMax)
    throw std::invalid_argument(std::string(name) + ": dimensions exceed the 32-bit BLAS interface");
  if (lib.set_threads != nullptr) lib.set_threads(ctx.threads);
  if (lib.set_threads_void != nullptr) {
    static thread_local int current = 0;  // OpenBLAS takes a lock to change it: only on change
    if (current != ctx.threads) lib.set_threads_void(ctx.threads), current = ctx.threads;
  }
  std::optional<cpu::EveryCpu> unpinned;  // workers started now inherit the mask too
  if (lib.own_threads && ctx.threads > 1) unpinned.emplace();
  // BLAS requires leading dimensions >= 1 even for empty matrices.
  auto ld = [](std::int64_t v) { return int(v > 1 ? v : 1); };
  lib.sgemm(kRowMajor, kNoTrans, kNoTrans, int(m), int(n), int(k), 1.0f, op.a, ld(op.lda), op.b, ld(op.ldb), 0.0f,
            op.c, ld(op.ldc));
}

void mkl_gemm(const Operands& op, const RunContext& ctx) { run_sgemm(mkl(), "mkl", op, ctx); }
void openblas_pypi_gemm(const Operands& op, const RunContext& ctx) {
  run_sgemm(openblas_pypi(), "openblas-pypi", op, ctx);
}
const char* mkl_unavailable() { return mkl().info.problem.empty() ? nullptr : mkl().info.problem.c_str(); }
const char* openblas_pypi_unavailable() {
  return openblas_pypi().info.problem.empty() ? nullptr : openblas_pypi().info.problem.c_str();
}
std::string mkl_detail() { return mkl().info.detail; }
std::string openblas_pypi_detail() { return openblas_pypi().info.detail; }

}  // namespace

std::string peers_dir() {
  if (const char* dir = std::getenv("FLOPSLAB_PEERS_DIR"); dir != nullptr && *dir != '\0') return dir;
  return std::string(FLOPSLAB_SOURCE_DIR) + "/.peers";
}
std::string default_mkl_path() { return peers_dir() + "/blas/lib/libmkl_rt.so.3"; }
std::string default_openblas_pypi_path() { return peers_dir() + "/blas/lib/libscipy_openblas.so"; }

const PeerLibrary& mkl_library(const std::string& path) { return loaded(path, load_mkl).info; }
const PeerLibrary& openblas_pypi_library(const std::string& path) { return loaded(path, load_openblas_pypi).info; }

}  // namespace flopslab::gemm::peers

namespace flopslab::gemm {
extern const GemmVariant kCpuMkl{
    .name = "mkl",
    .role = Role::peer,
    .multithreaded = true,
    .idea = "oneMKL cblas_sgemm, PyPI's newest (opt-in: scripts/setup-peers --blas), GNU OpenMP threads",
    .run = peers::mkl_gemm,
    .unavailable = peers::mkl_unavailable,
    .detail = peers::mkl_detail,
};
extern const GemmVariant kCpuOpenblasPypi{
    .name = "openblas-pypi",
    .role = Role::peer,
    .multithreaded = true,
    .idea = "OpenBLAS cblas_sgemm, PyPI's newest (scipy-openblas32; opt-in: scripts/setup-peers --blas)",
    .run = peers::openblas_pypi_gemm,
    .unavailable = peers::openblas_pypi_unavailable,
    .detail = peers::openblas_pypi_detail,
};
}  // namespace flopslab::gemm
