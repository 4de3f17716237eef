# Read by cpack at package time (CPACK_PROJECT_CONFIG_FILE): a Debian
# package is only built from a tree configured for /usr, because the
# programs carry their installed paths (trust anchor, hearth-fetch).
if(CPACK_GENERATOR STREQUAL "DEB" AND NOT CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "hearth: the Debian package needs a build configured with "
                      "-DCMAKE_INSTALL_PREFIX=/usr (this one: ${CPACK_PACKAGING_INSTALL_PREFIX})")
endif()
# HEARTH_TRUST_DIR is a cache variable: a build first configured for another
# prefix keeps that prefix's trust anchor path.
if(CPACK_GENERATOR STREQUAL "DEB" AND CPACK_HEARTH_TRUST_DIR MATCHES "^/usr/local/")
  message(FATAL_ERROR "hearth: HEARTH_TRUST_DIR is ${CPACK_HEARTH_TRUST_DIR}; configure the "
                      "package build with -DHEARTH_TRUST_DIR=/etc/hearth/trust (or a fresh build dir)")
endif()
