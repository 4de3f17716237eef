# Strict request-body validation: hostile bodies rejected, schema enforced.
hearth_unit_test(NAME json PROVISIONS 5.13-1 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_json.c)
# Secrets in bodies are wiped before their memory is freed: the test replaces
# malloc/free for the whole process to scan every freed block, which the
# sanitizers' own allocator does not allow.
if(NOT HEARTH_SANITIZE AND NOT HEARTH_FUZZ)
  hearth_unit_test(NAME json_wipe PROVISIONS 5.4-1
                   SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_json_wipe.c)
endif()
