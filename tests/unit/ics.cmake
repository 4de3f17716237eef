# The conformance statement generator (src/ics, `hearth ics`). Its tests
# evidence no EN 303 645 provision (the statement reports on the others), so
# they are of kind build with `none` (cmake/Testing.cmake): the library's
# unit tests, and the scripts in tests/conformance/ (the provisions data
# against the standard's text, the statement end to end in a browser).
add_executable(unit_ics ${CMAKE_CURRENT_LIST_DIR}/test_ics.c)
target_link_libraries(unit_ics PRIVATE hearth PkgConfig::CMOCKA)
# The shipped thermostat profile, read in its CSV and JSON forms.
target_compile_definitions(unit_ics PRIVATE HEARTH_CONFORMANCE_DIR="${PROJECT_SOURCE_DIR}/docs/conformance")
hearth_add_test(NAME build.ics KIND build PROVISIONS none COMMAND unit_ics TIMEOUT 60)
# Where the ETSI texts are (EN-303-645-v2.txt, product-profile-selection.txt):
# the workspace's shared copy beside the checkout by default. Without them
# build.ics_standard_text reports itself untested (ctest: Not Run).
set(HEARTH_ETSI_DIR "${PROJECT_SOURCE_DIR}/../shared/etsi" CACHE PATH
    "Directory with the ETSI reference texts the conformance data is checked against")
hearth_script_tests(KIND build DIR ${PROJECT_SOURCE_DIR}/tests/conformance)
foreach(_t build.ics_standard_text)
  if(TEST ${_t})
    set_property(TEST ${_t} APPEND PROPERTY ENVIRONMENT "HEARTH_ETSI_DIR=${HEARTH_ETSI_DIR}")
  endif()
endforeach()
