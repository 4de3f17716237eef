# Warnings as errors and hardening on by default (conventions.md item 8).
set(HEARTH_WARNINGS -Wall -Wextra -Wshadow -Wformat=2 -Wformat-security
    -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wpointer-arith
    -Wundef -Wcast-align -Wnull-dereference -Werror)
if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
  # cJSON/OpenSSL macros trip some clang-only warnings we cannot fix upstream.
  list(APPEND HEARTH_WARNINGS -Wno-unused-command-line-argument)
endif()

set(HEARTH_HARDEN_C -fstack-protector-strong -fstack-clash-protection
    -fPIE -fno-strict-overflow -fno-delete-null-pointer-checks)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  list(APPEND HEARTH_HARDEN_C -fcf-protection=full)
endif()
set(HEARTH_HARDEN_LD -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -Wl,--as-needed)

add_compile_options(${HEARTH_WARNINGS} ${HEARTH_HARDEN_C})
# _FORTIFY_SOURCE needs optimisation; sanitizer builds use -O1.
add_compile_definitions(_GNU_SOURCE)
# 32-bit targets (armhf, docs/cross-build.md): 64-bit file offsets in every
# file, so stat/lseek/readdir work on files over 2 GiB and on file systems
# with 64-bit directory cookies, and off_t is the same in every file (Debian's
# armhf libevent headers already force it where they are included).
if(CMAKE_SIZEOF_VOID_P EQUAL 4)
  add_compile_definitions(_FILE_OFFSET_BITS=64)
endif()
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
endif()
add_link_options(${HEARTH_HARDEN_LD})

if(HEARTH_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -O1)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()

if(HEARTH_FUZZ)
  # Fuzz builds instrument the whole tree for coverage feedback (otherwise a
  # harness sees only its own edges) and run under ASan+UBSan; programs link
  # the coverage runtime without libFuzzer's main.
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "HEARTH_FUZZ=ON needs clang: -DCMAKE_C_COMPILER=clang")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=fuzzer-no-link,address,undefined)
endif()
