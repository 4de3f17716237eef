# Secure store (src/store): cmocka unit tests plus the helper programs driven
# by tests/fault/test_store_crash.sh and tests/integration/test_store_tpm.sh.
hearth_unit_test(NAME store PROVISIONS 5.4-1 5.4-3 5.5-3
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store.c)

# store_writer: create/commit/verify a store from the command line, for the
# kill-at-every-fault-point test.
add_executable(store_writer ${CMAKE_CURRENT_LIST_DIR}/test_store_writer.c)
target_link_libraries(store_writer PRIVATE hearth)
set_target_properties(store_writer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

# store_seedgen: writes the fuzz seed corpus (throwaway key derived at run
# time, see tests/fuzz/fuzz_store.c).
add_executable(store_seedgen ${CMAKE_CURRENT_LIST_DIR}/test_store_seedgen.c)
target_link_libraries(store_seedgen PRIVATE hearth)
target_include_directories(store_seedgen PRIVATE ${PROJECT_SOURCE_DIR}/src)
set_target_properties(store_seedgen PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

if(HEARTH_TPM)
  # store_tpm_check: TPM root-of-trust checks against a running swtpm.
  add_executable(store_tpm_check ${CMAKE_CURRENT_LIST_DIR}/test_store_tpm_check.c)
  target_link_libraries(store_tpm_check PRIVATE hearth)
  target_include_directories(store_tpm_check PRIVATE ${PROJECT_SOURCE_DIR}/src)
  set_target_properties(store_tpm_check PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()

# TPM connection validator and platform configuration (src/store/tcti.c,
# platform.c): only documented transports, never a library name or path.
hearth_unit_test(NAME tcti PROVISIONS 5.4-1
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tcti.c)
