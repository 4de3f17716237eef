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
                         ${_sandbox_src}/landlock.c ${_sandbox_src}/seccomp.c ${_sandbox_src}/apply.c)
target_compile_definitions(unit_sandbox_kill PRIVATE HEARTH_SECCOMP_KILL=1)
