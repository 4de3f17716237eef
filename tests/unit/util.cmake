hearth_unit_test(NAME util PROVISIONS 5.13-1 5.1-3 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_util.c)
