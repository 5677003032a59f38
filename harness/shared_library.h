// A shared library opened at run time and its functions looked up by name, for what may be
// absent from a machine that runs flopslab: NVML (it ships with the driver), NCCL (with the
// toolkit or PyTorch), and the opt-in peers. Opened RTLD_LOCAL, so its symbols never clash
// with another version of the same library in this process; never closed.
#pragma once

#include <string>
#include <type_traits>

namespace flopslab {

class SharedLibrary {
 public:
  explicit SharedLibrary(const char* soname);  // never throws: loaded() says whether it opened
  bool loaded() const { return handle_ != nullptr; }
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
  std::string first_missing_;
};

}  // namespace flopslab
