# Updater unit tests (policy record, schedule, key PEM conversion, the
# upload pipeline end to end without network) and the driver program the
# update integration/fault tests and bench/bench_update.sh run.
hearth_unit_test(NAME updater
  PROVISIONS 5.3-4 5.3-5 5.3-6 5.3-9 5.3-10 5.3-11 5.3-12 5.7-2 5.9-3
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_updater.c)

add_executable(hearth-update-driver ${CMAKE_CURRENT_LIST_DIR}/test_updater_driver.c)
target_link_libraries(hearth-update-driver PRIVATE hearth hearth_thermostat)
set_target_properties(hearth-update-driver PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# The daemon side of the hearth-fetch process separation against a hostile
# helper (oversized/truncated/unknown frames, more than max_bytes, no result,
# killed, hung), and the real hearth-fetch against hostile request records.
add_executable(hearth-fetch-hostile ${CMAKE_CURRENT_LIST_DIR}/test_updater_transport_hostile.c)
target_link_libraries(hearth-fetch-hostile PRIVATE hearth_fetch_proto hearth_util)
hearth_unit_test(NAME updater_transport
  PROVISIONS 5.3-10 5.9-3 5.13-1
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_updater_transport.c)
target_compile_definitions(unit_updater_transport PRIVATE
  HOSTILE_FETCH="$<TARGET_FILE:hearth-fetch-hostile>"
  REAL_FETCH="$<TARGET_FILE:hearth-fetch>")
if(HEARTH_FETCH_BUILD_TREE)
  target_compile_definitions(unit_updater_transport PRIVATE FETCH_BUILD_TREE=1)
endif()
add_dependencies(unit_updater_transport hearth-fetch-hostile hearth-fetch)

# A hostile replacement for hearth-fetch that the real hearthd starts in
# tests/integration/test_fetch_boundary.sh: it tries to read the device's
# keys and store, hearthd's memory, to ptrace it, to reach the network and
# to exec a shell, and reports what happened (test only, never installed).
add_executable(hearth-fetch-intruder ${PROJECT_SOURCE_DIR}/tests/integration/fetch_intruder.c)
target_link_libraries(hearth-fetch-intruder PRIVATE hearth_fetch_proto hearth_util)
