# The SBOM of the reference thermostat's release, built with the programs
# (docs/sbom.md): `hearth sbom generate` over hearthd, hearth-fetch and
# hearth-boot as built, resolved against the build machine's Debian
# packages. Not for a cross build: ldd runs the target's loader, and the
# packages must be the target's (docs/sbom.md says what to do there).
option(HEARTH_SBOM "Generate the release SBOM at build time (build/sbom/hearthd.cdx.json)" ON)
if(HEARTH_SBOM AND NOT CMAKE_CROSSCOMPILING)
  set(HEARTH_SBOM_FILE ${CMAKE_BINARY_DIR}/sbom/hearthd.cdx.json)
  add_custom_command(OUTPUT ${HEARTH_SBOM_FILE}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/sbom
    COMMAND $<TARGET_FILE:hearth-cli> sbom generate --out ${HEARTH_SBOM_FILE}
            --product hearthd --version ${PROJECT_VERSION}
            $<TARGET_FILE:hearthd> $<TARGET_FILE:hearth-fetch> $<TARGET_FILE:hearth-boot>
    DEPENDS hearth-cli hearthd hearth-fetch hearth-boot
    COMMENT "SBOM of the release: ${HEARTH_SBOM_FILE}"
    VERBATIM)
  add_custom_target(hearth_sbom_file ALL DEPENDS ${HEARTH_SBOM_FILE})
endif()
