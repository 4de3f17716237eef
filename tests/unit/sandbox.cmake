# Sandbox (src/sandbox): privilege drop, Landlock and seccomp, each shown in a
# forked child. unit.sandbox runs the library as this build configures it;
# unit.sandbox_kill compiles the same sources with HEARTH_SECCOMP_KILL=1, so
# both the release mode (refuse and log) and the CI mode (kill) are shown in
# every build.
hearth_unit_test(NAME sandbox PROVISIONS 5.6-7
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sandbox.c)
set(_sandbox_src ${PROJECT_SOURCE_DIR}/src/sandbox)
hearth_unit_test(NAME sandbox_kill PROVISIONS 5.6-7
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sandbox.c ${_sandbox_src}/privileges.c
                         ${_sandbox_src}/landlock.c ${_sandbox_src}/seccomp.c ${_sandbox_src}/system.c
                         ${_sandbox_src}/apply.c)
target_compile_definitions(unit_sandbox_kill PRIVATE HEARTH_SECCOMP_KILL=1)

# sandbox_probe: the LD_PRELOAD attacker of tests/integration/test_sandbox_*.sh
# (runs inside the sandboxed program once its filter is on; never installed).
# Built without the sanitizers: it is preloaded ahead of the sanitizer runtime.
add_library(sandbox_probe SHARED ${PROJECT_SOURCE_DIR}/tests/integration/sandbox_probe.c)
target_link_libraries(sandbox_probe PRIVATE ${CMAKE_DL_LIBS})
target_compile_options(sandbox_probe PRIVATE -fno-sanitize=all -fPIC)
target_link_options(sandbox_probe PRIVATE -fno-sanitize=all)
set_target_properties(sandbox_probe PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY
                                               ${CMAKE_BINARY_DIR}/tests)
