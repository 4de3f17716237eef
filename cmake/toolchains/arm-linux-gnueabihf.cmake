# Cross build for 32-bit ARM with hardware floating point (Debian armhf:
# ARMv7-A, VFPv3-D16, Thumb-2) with crossbuild-essential-armhf and
# libfoo-dev:armhf packages: scripts/cross.sh armhf, docs/cross-build.md.
set(HEARTH_CROSS_TRIPLET arm-linux-gnueabihf)
set(HEARTH_CROSS_PROCESSOR armv7l)
set(HEARTH_CROSS_QEMU qemu-arm)
set(HEARTH_CROSS_DEB_ARCH armhf)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
