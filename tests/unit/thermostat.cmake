# Offline thermostat: input validation (5.13-1), local operation with no
# network, a sensor fail safe and settings kept across a restart (5.9-2).
hearth_unit_test(NAME thermostat PROVISIONS 5.13-1 5.9-2
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_thermostat.c)
# The application lives in apps/thermostat/ (its internal header is
# "thermostat/thermo_internal.h" below apps/).
target_link_libraries(unit_thermostat PRIVATE hearth_thermostat hearth_port_sim)
target_include_directories(unit_thermostat PRIVATE ${PROJECT_SOURCE_DIR}/apps)
