hearth_unit_test(NAME bundle
  PROVISIONS 5.3-7 5.3-9 5.3-10 5.3-11 5.3-12 5.5-3 5.7-1 5.13-1
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bundle.c)
