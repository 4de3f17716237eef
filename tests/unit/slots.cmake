# Slots / secure boot: decision logic, authenticated boot state, slot verbs.
hearth_unit_test(NAME slots PROVISIONS 5.7-1 5.7-2 5.3-2 5.3-9 5.3-10
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_slots.c LIBS hearth_util_fault_hooks)

# Test payload that hearth-boot launches from a slot in the boot tests
# (tests/integration/test_boot_*.sh, tests/fault/test_boot_*.sh, bench).
add_executable(boot_payload ${CMAKE_CURRENT_LIST_DIR}/boot_payload.c)
target_link_libraries(boot_payload PRIVATE hearth)
set_target_properties(boot_payload PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

# Intruder program written over a slot's program by the exec-race test
# (tests/integration/test_boot_exec_race.sh); leaves a marker if it runs.
add_executable(boot_intruder ${CMAKE_CURRENT_LIST_DIR}/boot_intruder.c)
set_target_properties(boot_intruder PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

# Anti-rollback floor record (file backend) combined with the boot state.
hearth_unit_test(NAME floors PROVISIONS 5.3-9 5.7-2
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_floors.c LIBS hearth_util_fault_hooks)

if(HEARTH_TPM)
  # floors_tpm_check: the TPM NV floor record against a running swtpm
  # (tests/integration/test_floor_tpm.sh).
  add_executable(floors_tpm_check ${CMAKE_CURRENT_LIST_DIR}/test_floors_tpm_check.c)
  target_link_libraries(floors_tpm_check PRIVATE hearth)
  target_include_directories(floors_tpm_check PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(floors_tpm_check PRIVATE HEARTH_HAVE_TPM=1)
  set_target_properties(floors_tpm_check PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()
