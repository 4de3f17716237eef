# Operational identity: CSR checks (service side) and operational
# certificate checks (device side) against hostile inputs, the service CA's
# certificates and CRL. 5.5-8: secure management of the device's
# operational credentials.
hearth_unit_test(NAME enrol PROVISIONS 5.5-8
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_enrol.c)

# The device side of enrolment on a real device state, for
# tests/integration/test_enrol.sh (test only, never installed).
pkg_check_modules(HEARTH_PROBE_MOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto>=2.0)
add_executable(hearth-enrol-probe ${PROJECT_SOURCE_DIR}/tests/integration/enrol_probe.c)
target_link_libraries(hearth-enrol-probe PRIVATE hearth PkgConfig::HEARTH_PROBE_MOSQUITTO)
set_target_properties(hearth-enrol-probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
