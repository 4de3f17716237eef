# Strict device.json parser (src/identity/info.c), read at every start.
hearth_fuzz_target(NAME device_info SOURCE fuzz_device_info.c PROVISIONS 5.4-2 5.13-1)

# The same source built with HEARTH_FUZZ_SEEDGEN writes the valid seeds of
# corpus/device_info/ with the real encoder (not a test; docs/fuzzing.md):
#   make fuzz_device_info_seedgen && tests/fuzz/fuzz_device_info_seedgen tests/fuzz/corpus/device_info
add_executable(fuzz_device_info_seedgen EXCLUDE_FROM_ALL
               ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_device_info.c)
target_compile_definitions(fuzz_device_info_seedgen PRIVATE HEARTH_FUZZ_SEEDGEN)
target_link_libraries(fuzz_device_info_seedgen PRIVATE hearth)
target_include_directories(fuzz_device_info_seedgen PRIVATE ${PROJECT_SOURCE_DIR}/src)
