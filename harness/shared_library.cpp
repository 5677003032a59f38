// dlopen and dlsym behind SharedLibrary, remembering the first function a library lacked.
#include "harness/shared_library.h"

#include <dlfcn.h>

namespace flopslab {

SharedLibrary::SharedLibrary(const char* soname) : handle_(dlopen(soname, RTLD_NOW | RTLD_LOCAL)) {}

void* SharedLibrary::symbol(const char* name) {
  void* found = handle_ != nullptr ? dlsym(handle_, name) : nullptr;
  if (found == nullptr && first_missing_.empty()) first_missing_ = name;
  return found;
}

}  // namespace flopslab
