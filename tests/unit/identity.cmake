hearth_unit_test(NAME identity
  PROVISIONS 5.1-1 5.1-2 5.3-16 5.4-2 5.4-3 5.4-4 5.13-1
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_identity.c
  LIBS m hearth_identity_test_hooks
  TIMEOUT 600)

# identity_open_check: hearth_device_open as a program, for script tests
# (tests/integration/test_provision_tpm.sh).
add_executable(identity_open_check ${CMAKE_CURRENT_LIST_DIR}/test_identity_open.c)
target_link_libraries(identity_open_check PRIVATE hearth)
set_target_properties(identity_open_check PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
