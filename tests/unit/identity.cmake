hearth_unit_test(NAME identity
  PROVISIONS 5.1-1 5.1-2 5.3-16 5.4-2 5.4-3 5.4-4 5.13-1
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_identity.c
  LIBS m
  TIMEOUT 600)
