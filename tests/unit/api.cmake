hearth_unit_test(NAME api
  PROVISIONS 5.5-4 5.5-5 5.6-2 5.13-1 5.1-5 5.3-16
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_api.c
  LIBS PkgConfig::CJSON hearth_thermostat
  TIMEOUT 300)
