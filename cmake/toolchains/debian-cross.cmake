# Shared part of the Debian cross toolchain files (aarch64-linux-gnu.cmake,
# arm-linux-gnueabihf.cmake; docs/cross-build.md). The including file sets
# HEARTH_CROSS_TRIPLET, HEARTH_CROSS_PROCESSOR, HEARTH_CROSS_QEMU and
# HEARTH_CROSS_DEB_ARCH first.
#
# Compiler: Debian's cross gcc (crossbuild-essential-<arch>), which already
# searches the multiarch directories /usr/include/<triplet> and
# /usr/lib/<triplet> where `apt-get install libfoo-dev:<arch>` puts headers and
# libraries. pkg-config: the same pkgconf, pointed only at the target's
# multiarch .pc files (PKG_CONFIG_LIBDIR), so no host library can be picked up.
#
# HEARTH_CROSS_STAGE (optional): a directory holding -dev packages that cannot
# be installed beside the host's on Debian 12 (libevent-dev is not
# Multi-Arch: same there), unpacked with dpkg-deb -x by scripts/cross.sh; its
# <stage>/usr/lib/<triplet>/pkgconfig is searched first.
#
# Test programs run under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR): ctest
# prefixes every test command with it, and so does the build for programs it
# runs (the password blocklist generator).

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${HEARTH_CROSS_PROCESSOR})
set(CMAKE_C_COMPILER ${HEARTH_CROSS_TRIPLET}-gcc)
set(CMAKE_AR ${HEARTH_CROSS_TRIPLET}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${HEARTH_CROSS_TRIPLET}-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${HEARTH_CROSS_TRIPLET}-strip CACHE FILEPATH "")
set(CMAKE_OBJCOPY ${HEARTH_CROSS_TRIPLET}-objcopy CACHE FILEPATH "")
set(CMAKE_NM ${HEARTH_CROSS_TRIPLET}-nm CACHE FILEPATH "")
set(CMAKE_LIBRARY_ARCHITECTURE ${HEARTH_CROSS_TRIPLET})

# Programs (code generators, pkg-config) come from the host; libraries and
# headers only from the target's directories.
set(CMAKE_FIND_ROOT_PATH /usr/${HEARTH_CROSS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

set(HEARTH_CROSS_STAGE "" CACHE PATH
    "Unpacked -dev packages for ${HEARTH_CROSS_TRIPLET} that are not co-installable on the host")
# try_compile projects read this file again in the same process: pass the
# stage on, or they would reset PKG_CONFIG_LIBDIR without it.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES HEARTH_CROSS_STAGE)
set(_pc /usr/lib/${HEARTH_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig)
if(HEARTH_CROSS_STAGE)
  set(_pc ${HEARTH_CROSS_STAGE}/usr/lib/${HEARTH_CROSS_TRIPLET}/pkgconfig:${_pc})
endif()
set(ENV{PKG_CONFIG_LIBDIR} ${_pc})
unset(ENV{PKG_CONFIG_PATH})
unset(ENV{PKG_CONFIG_SYSROOT_DIR})

# qemu-user runs the target's programs with the target's own loader and libc
# from multiarch libc6:<arch> (/lib/ld-linux-*.so.*, /usr/lib/<triplet>),
# which the -dev packages above pull in. Not `-L /usr/<triplet>`: that mixes
# the cross libc (libc6-<arch>-cross) with the multiarch libraries, and with
# qemu 7.2 a program then hangs (arm64) or crashes (armhf) in its first
# pthread_create.
find_program(HEARTH_CROSS_QEMU_PATH ${HEARTH_CROSS_QEMU})
if(HEARTH_CROSS_QEMU_PATH)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${HEARTH_CROSS_QEMU_PATH})
endif()

# Libraries install to the multiarch directory, as Debian's own -dev packages
# do (GNUInstallDirs chooses it only for native builds).
set(CMAKE_INSTALL_LIBDIR lib/${HEARTH_CROSS_TRIPLET} CACHE PATH "Object code libraries (lib/<triplet>)")

# The Debian package's architecture (CPack DEB, docs/cross-build.md).
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${HEARTH_CROSS_DEB_ARCH})
