# Updater unit tests (policy record, schedule, key PEM conversion, the
# upload pipeline end to end without network) and the driver program the
# update integration/fault tests and bench/bench_update.sh run.
hearth_unit_test(NAME updater
  PROVISIONS 5.3-4 5.3-5 5.3-6 5.3-9 5.3-10 5.3-11 5.3-12 5.7-2
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_updater.c)

add_executable(hearth-update-driver ${CMAKE_CURRENT_LIST_DIR}/test_updater_driver.c)
target_link_libraries(hearth-update-driver PRIVATE hearth)
set_target_properties(hearth-update-driver PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
