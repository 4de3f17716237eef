# Factory reset (src/identity/reset.c, factory.c): reset_driver, the helper
# program tests/fault/test_reset_powercut.sh and
# tests/integration/test_reset_crypto_erase.sh drive (and test_factory_reset.sh:
# tryevents).
add_executable(reset_driver ${CMAKE_CURRENT_LIST_DIR}/test_reset_driver.c)
target_link_libraries(reset_driver PRIVATE hearth)
set_target_properties(reset_driver PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
