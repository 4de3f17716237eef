hearth_unit_test(NAME disclosure
  PROVISIONS 5.2-1 5.3-13
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_disclosure.c
  LIBS PkgConfig::CJSON hearth_thermostat)

hearth_unit_test(NAME sbom
  PROVISIONS 5.2-3
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sbom.c)
