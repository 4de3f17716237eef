# The fleet's simulated devices (bench/fleet_telemetry_pub.c): they publish
# telemetry reports for tests/integration/test_fleet_pg.sh and for
# bench/bench_fleet_ingest.sh, so the program is built with the tests (the
# sanitizer configuration builds no benchmarks) and bench/ reuses it.
if(HEARTH_FLEET)
  pkg_check_modules(FLEET_PUB_MOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto>=2.0)
  add_executable(fleet_telemetry_pub ${PROJECT_SOURCE_DIR}/bench/fleet_telemetry_pub.c)
  target_link_libraries(fleet_telemetry_pub PRIVATE PkgConfig::FLEET_PUB_MOSQUITTO)
  set_target_properties(fleet_telemetry_pub PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()
