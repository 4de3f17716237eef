# The smart plug application (apps/plug): its stored record refuses anything
# but the exact format (5.13-1: the data it acts on is validated), its relay
# follows the stored state through a real port, a failed relay or commit
# changes nothing, its self-test fails when the hardware does.
# Not registered when the example applications are not built
# (HEARTH_WITH_EXAMPLES=OFF).
if(HEARTH_WITH_EXAMPLES)
hearth_unit_test(NAME plug PROVISIONS 5.13-1
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_plug.c LIBS hearth_plug hearth_port_sim)
target_include_directories(unit_plug PRIVATE ${PROJECT_SOURCE_DIR}/apps/plug)
endif()
