# Offline thermostat: input validation (5.13-1), local operation with no
# network, a sensor fail safe and settings kept across a restart (5.9-2).
hearth_unit_test(NAME thermostat PROVISIONS 5.13-1 5.9-2
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_thermostat.c)
