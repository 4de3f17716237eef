# Device-image build (docs/performance.md, "Idle RSS"): OpenSSL, libevent
# and libsodium linked statically from Debian's own archives (libssl-dev,
# libevent-dev, libsodium-dev ship libssl.a, libcrypto.a, libevent_*.a,
# libsodium.a), every object
# compiled with one section per function and datum, and the linker dropping
# the sections nothing references. hearthd then maps no libcrypto.so /
# libssl.so / libevent*.so / libsodium.so: no relocated copy of their data
# per process, only the code of them it links.
#
# Not for a TPM build: Debian's tpm2-tss libraries are shared only and load
# the shared libcrypto themselves, so the process would carry two OpenSSLs.
option(HEARTH_STATIC_OPENSSL
       "Device image: link OpenSSL and libevent statically with section garbage collection" OFF)

if(HEARTH_STATIC_OPENSSL)
  if(HEARTH_TPM)
    message(FATAL_ERROR "HEARTH_STATIC_OPENSSL=ON needs HEARTH_TPM=OFF: Debian's tpm2-tss "
                        "shared libraries load the shared libcrypto themselves")
  endif()
  if(HEARTH_SANITIZE OR HEARTH_FUZZ)
    message(FATAL_ERROR "HEARTH_STATIC_OPENSSL=ON is a release device image, not a sanitizer build")
  endif()
  set(_hearth_static_libs ssl crypto event_openssl event_pthreads event_extra event_core sodium)
  foreach(_lib IN LISTS _hearth_static_libs)
    find_library(HEARTH_STATIC_${_lib} NAMES lib${_lib}.a REQUIRED NO_CACHE)
  endforeach()
  set(_ossl ${HEARTH_STATIC_ssl} ${HEARTH_STATIC_crypto} Threads::Threads ${CMAKE_DL_LIBS})
  set_target_properties(PkgConfig::OPENSSL PROPERTIES INTERFACE_LINK_LIBRARIES "${_ossl}")
  set_target_properties(PkgConfig::LIBEVENT PROPERTIES INTERFACE_LINK_LIBRARIES
      "${HEARTH_STATIC_event_openssl};${HEARTH_STATIC_event_pthreads};${HEARTH_STATIC_event_extra};${HEARTH_STATIC_event_core};${_ossl}")
  set_target_properties(PkgConfig::SODIUM PROPERTIES INTERFACE_LINK_LIBRARIES
      "${HEARTH_STATIC_sodium};Threads::Threads")
  add_compile_options(-ffunction-sections -fdata-sections)
  # --exclude-libs: no program exports the static OpenSSL's symbols, so in
  # hearth-fetch, whose libcurl loads the shared libssl, the two copies
  # stay apart instead of interposing on each other.
  add_link_options(-Wl,--gc-sections -Wl,--exclude-libs,ALL)
  message(STATUS "Device image: static OpenSSL ${OPENSSL_VERSION} and libevent, --gc-sections")
endif()
