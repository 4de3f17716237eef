# Cross build for 64-bit ARM (Debian arm64) with crossbuild-essential-arm64 and
# libfoo-dev:arm64 packages: scripts/cross.sh arm64, docs/cross-build.md.
set(HEARTH_CROSS_TRIPLET aarch64-linux-gnu)
set(HEARTH_CROSS_PROCESSOR aarch64)
set(HEARTH_CROSS_QEMU qemu-aarch64)
set(HEARTH_CROSS_DEB_ARCH arm64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
