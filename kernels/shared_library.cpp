// dlopen and dlsym behind SharedLibrary, remembering why a library did not open and the first
// function it lacked.
#include "kernels/shared_library.h"

#include <dlfcn.h>

namespace flopslab {
namespace {

// The sanitizers' runtimes refuse RTLD_DEEPBIND (they abort the process: google/sanitizers
// issue 611), so a sanitized build opens with local binding only: what it looks up still comes
// from the library's own handle, but the library's calls to its own exported functions could
// reach a same-named one loaded earlier. The sanitized trees only load the tests' stand-ins.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kDeepBindAllowed = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kDeepBindAllowed = false;
#else
constexpr bool kDeepBindAllowed = true;
#endif
#else
constexpr bool kDeepBindAllowed = true;
#endif
}  // namespace

SharedLibrary::SharedLibrary(const char* soname_or_path, Binding binding) {
  int flags = RTLD_NOW | RTLD_LOCAL;
#ifdef RTLD_DEEPBIND
  if (binding == Binding::deep && kDeepBindAllowed) flags |= RTLD_DEEPBIND;
#else
  (void)binding;
#endif
  handle_ = dlopen(soname_or_path, flags);
  if (handle_ == nullptr) {
    const char* why = dlerror();
    error_ = why != nullptr ? why : "dlopen failed";
  }
}

void* SharedLibrary::symbol(const char* name) {
  void* found = handle_ != nullptr ? dlsym(handle_, name) : nullptr;
  if (found == nullptr && first_missing_.empty()) first_missing_ = name;
  return found;
}

}  // namespace flopslab
