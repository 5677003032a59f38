// A shared library opened at run time and its functions looked up by name, for what may be
// absent from a machine that runs flopslab: NVML (it ships with the driver), NCCL (with the
// toolkit or PyTorch), and the opt-in peers (kernels/cpu/gemm/peer_pypi.cpp). Opened
// RTLD_LOCAL, so its symbols never clash with another version of the same library in this
// process; with deep binding also, the library's calls to its own functions go to its own
// copies, not to a same-named function loaded earlier (Debian's OpenBLAS and a newer one both
// export cblas_sgemm). Never closed.
#pragma once

#include <string>
#include <type_traits>

namespace flopslab {

class SharedLibrary {
 public:
  enum class Binding { shared, deep };
  // Never throws: loaded() says whether it opened, error() why not (dlerror's text).
  explicit SharedLibrary(const char* soname_or_path, Binding binding = Binding::shared);
  bool loaded() const { return handle_ != nullptr; }
  const std::string& error() const { return error_; }
  // Sets `fn` to the function `name` (null when the library lacks it or is not loaded).
  template <class Fn>
  void bind(Fn*& fn, const char* name) {
    static_assert(std::is_function_v<Fn>, "bind takes a function pointer");
    fn = reinterpret_cast<Fn*>(symbol(name));
  }
  // The first function bind() did not find, or empty when every one was found.
  const std::string& first_missing() const { return first_missing_; }

 private:
  void* symbol(const char* name);
  void* handle_ = nullptr;
  std::string error_;
  std::string first_missing_;
};

}  // namespace flopslab
