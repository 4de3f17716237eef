# Backoff unit tests: the delay distribution under an injected counter random
# source and the real one, 64-bit saturation (n up to UINT32_MAX, the LoRa
# 26 h case), the random first delay, reset only after a stable connection,
# the refusal schedule and its security event, busy hints, configuration
# checks. 5.9-3: orderly, randomised reconnection; 5.9-1: retrying keeps
# working however long the outage (no wrap to short delays).
hearth_unit_test(NAME backoff PROVISIONS 5.9-1 5.9-3
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backoff.c)

# The reconnect storm simulator (bench/storm_sim.c): used by
# bench/bench_storm.sh and tests/integration/test_reconnect_storm.sh.
add_executable(storm_sim ${PROJECT_SOURCE_DIR}/bench/storm_sim.c)
target_link_libraries(storm_sim PRIVATE hearth)
set_target_properties(storm_sim PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
