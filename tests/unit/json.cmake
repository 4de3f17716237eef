# Strict request-body validation: hostile bodies rejected, schema enforced.
hearth_unit_test(NAME json PROVISIONS 5.13-1 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_json.c)
