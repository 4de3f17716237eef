# The Debian packages (docs/install.md), built with CPack from the same
# install rules as `cmake --install`:
#   hearth         programs, units, users, default configuration, man pages
#   libhearth-dev  libhearth.a, include/hearth/*.h, hearth.pc
# `cpack -G DEB` in a build configured with -DCMAKE_INSTALL_PREFIX=/usr
# (the paths compiled into the programs, e.g. the trust anchor and
# hearth-fetch, must be the installed ones; a DEB of another prefix is
# refused by cpack-options.cmake).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hearth)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Hearth")
set(CPACK_PACKAGE_CONTACT "Hearth maintainers <hearth@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_HEARTH_TRUST_DIR ${HEARTH_TRUST_DIR})
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_LIST_DIR}/cpack-options.cmake)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME hearth)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
# systemd-sysusers and systemd-tmpfiles create the users and the state
# directory in postinst.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "systemd")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "secure-by-default IoT device core (ETSI EN 303 645)\nHearth is the core a manufacturer builds a Linux-class consumer IoT device\non. This package installs the reference device program hearthd (a smart\nthermostat with an authenticated local HTTPS API), the verified A/B-slot\nlauncher hearth-boot, the update transfer helper hearth-fetch, the\nmanufacturer command-line tool hearth, hardened systemd units, the users\nhearth and hearth-fetch, and the default configuration in /etc/hearth.")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/postinst ${CMAKE_CURRENT_LIST_DIR}/postrm
    ${CMAKE_CURRENT_LIST_DIR}/conffiles)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libhearth-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${HEARTH_DEV_DEPENDS}, pkgconf | pkg-config")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "Hearth IoT device core library (static) and headers\nlibhearth: device identity and provisioning, credentials, the encrypted\nsecure store, strict JSON, the HTTPS API layer, signed update bundles, A/B\nslots, the updater and the device runtime, as a static library with its\nheaders and a pkg-config file (hearth.pc).")

# Each package's copyright, changelog and lintian overrides.
foreach(c runtime dev)
  if(c STREQUAL runtime)
    set(_pkg hearth)
  else()
    set(_pkg libhearth-dev)
  endif()
  set(_doc ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_pkg})
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/copyright DESTINATION ${_doc} COMPONENT ${c})
  set(_cl ${CMAKE_CURRENT_BINARY_DIR}/${_pkg}/changelog.Debian.gz)
  add_custom_command(OUTPUT ${_cl}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/${_pkg}
    COMMAND sed -e "s/@PACKAGE@/${_pkg}/" -e "s/@VERSION@/${PROJECT_VERSION}-1/"
            ${CMAKE_CURRENT_LIST_DIR}/changelog.in | gzip -9n > ${_cl}
    DEPENDS ${CMAKE_CURRENT_LIST_DIR}/changelog.in VERBATIM)
  list(APPEND _changelogs ${_cl})
  install(FILES ${_cl} DESTINATION ${_doc} COMPONENT ${c})
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/${_pkg}.lintian-overrides)
    install(FILES ${CMAKE_CURRENT_LIST_DIR}/${_pkg}.lintian-overrides
            DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME ${_pkg} COMPONENT ${c})
  endif()
endforeach()
add_custom_target(hearth_deb_changelogs ALL DEPENDS ${_changelogs})
install(FILES ${PROJECT_SOURCE_DIR}/docs/install.md DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/hearth)

include(CPack)
