# The aarch64 cross build with clang instead of GCC: the same sysroot (Debian's arm64 multiarch
# packages and the GCC cross toolchain's C++ library), clang's code generation. Clang's OpenMP
# codegen needs its own runtime, libomp; Debian's arm64 libomp cannot be installed beside the
# amd64 one, so pass the root of an unpacked copy of libomp5-14:arm64 and libomp-14-dev:arm64
# as FLOPSLAB_AARCH64_LIBOMP_ROOT (scripts/test-aarch64 --clang unpacks one).
include("${CMAKE_CURRENT_LIST_DIR}/aarch64-linux-gnu.cmake")
set(CMAKE_C_COMPILER clang)
set(CMAKE_CXX_COMPILER clang++)
set(CMAKE_C_COMPILER_TARGET aarch64-linux-gnu)
set(CMAKE_CXX_COMPILER_TARGET aarch64-linux-gnu)
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES FLOPSLAB_AARCH64_LIBOMP_ROOT)  # the compiler checks read this file too
if(NOT FLOPSLAB_AARCH64_LIBOMP_ROOT)
  message(FATAL_ERROR "the clang cross build needs -DFLOPSLAB_AARCH64_LIBOMP_ROOT=<unpacked libomp5-14:arm64 and "
                      "libomp-14-dev:arm64>; scripts/test-aarch64 --clang does this")
endif()
foreach(_lang C CXX)
  set(OpenMP_${_lang}_FLAGS "-fopenmp=libomp")
  set(OpenMP_${_lang}_LIB_NAMES omp)
endforeach()
set(OpenMP_omp_LIBRARY "${FLOPSLAB_AARCH64_LIBOMP_ROOT}/usr/lib/llvm-14/lib/libomp.so")
