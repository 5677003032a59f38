// dlopen and dlsym behind SharedLibrary, remembering why a library did not open and the first
// function it lacked.
#include "kernels/shared_library.h"

#include <dlfcn.h>

namespace flopslab {

SharedLibrary::SharedLibrary(const char* soname_or_path, Binding binding) {
  int flags = RTLD_NOW | RTLD_LOCAL;
#ifdef RTLD_DEEPBIND
  if (binding == Binding::deep) flags |= RTLD_DEEPBIND;
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
