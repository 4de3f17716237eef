# Offline thermostat: input validation (5.13-1), settings in the secure store
# (5.4-1), local operation with no network and a sensor fail safe (5.9-2).
hearth_unit_test(NAME thermostat PROVISIONS 5.13-1 5.4-1 5.9-2
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_thermostat.c)
