# The MQTT link's strict parsers and request-id memory (hearth/link.h).
if(HEARTH_WITH_LINK)
  hearth_unit_test(NAME link PROVISIONS 5.13-1 5.5-5 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_link.c)
  # Devices acting on update announcements (bench/announce_sim.c): used by
  # bench/bench_announce.sh and tests/integration/test_fleet_announce_load.sh.
  add_executable(announce_sim ${PROJECT_SOURCE_DIR}/bench/announce_sim.c)
  target_link_libraries(announce_sim PRIVATE hearth PkgConfig::CURL)
  set_target_properties(announce_sim PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
endif()
