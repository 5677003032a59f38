# Cross build for aarch64 Linux with Debian's g++-aarch64-linux-gnu and arm64 multiarch -dev
# packages (dpkg --add-architecture arm64). Header-only packages (nlohmann-json, CLI11, doctest)
# are architecture-independent and found where they are. The result runs under qemu-aarch64
# (scripts/test-aarch64) or on an aarch64 machine. oneDNN's arm64 -dev package cannot sit beside
# the amd64 one: pass -DONEDNN_INCLUDE_DIR and -DONEDNN_LIBRARY of an unpacked copy
# (scripts/test-aarch64 unpacks one), or the build goes on without it and says so.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Libraries and pkg-config files from the arm64 multiarch directories only; programs (python3,
# the build tools) from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/cmake)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
# The arm64 multiarch libc (libc6:arm64) serves the emulated binaries: no qemu -L prefix, whose
# cross libc (libc6-arm64-cross) is another build than the multiarch one, and a loader of one
# with the libc of the other hangs at the first thread.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
