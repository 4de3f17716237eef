# Outbox (src/outbox): order, acknowledgement and bounds across reopen
# (5.9-1, 5.9-2: the device keeps what it owes the service through outages
# and power cuts), and the log file as hostile input (5.13-1).
hearth_unit_test(NAME outbox PROVISIONS 5.9-1 5.9-2 5.11-1 5.13-1
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_outbox.c)
# A version-1 log of the fuzz corpus: read and rewritten encrypted.
target_compile_definitions(unit_outbox PRIVATE
  HEARTH_OUTBOX_CORPUS="${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/outbox")

# outbox_tool: the workload and checker that tests/fault/test_outbox_powercut.sh
# kills at every fault point.
add_executable(outbox_tool ${CMAKE_CURRENT_LIST_DIR}/test_outbox_tool.c)
target_link_libraries(outbox_tool PRIVATE hearth)
set_target_properties(outbox_tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
