# Platform ports (src/port, ports/sim): the table check, the platform
# defaults a port sets (5.4-1: validated, environment still first), the strict sensor text
# parser (5.13-1: a reading that is not one finite number is refused), the
# sim port's channels (the simulated room among them) and the factory-reset button watch.
hearth_unit_test(NAME port PROVISIONS 5.13-1 5.4-1
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_port.c LIBS hearth_port_sim)
