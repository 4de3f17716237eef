# Authentication (src/auth): policy + Argon2id with production parameters,
# the brute-force limiter on its own (simulated clock, a day of attack), and
# the full flows against a real secure store.
# Tests that use the TEST ONLY hooks link the hearth_auth_test_hooks objects
# (src/auth/CMakeLists.txt); the shipped library has no hooks.
hearth_unit_test(NAME auth_policy PROVISIONS 5.1-1 5.1-3 5.5-3
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_auth_policy.c
                 LIBS hearth_auth_test_hooks)
hearth_unit_test(NAME auth_ratelimit PROVISIONS 5.1-5
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_auth_ratelimit.c)
hearth_unit_test(NAME auth PROVISIONS 5.1-1 5.1-3 5.1-4 5.1-5 5.5-4 5.5-5 5.13-1
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_auth.c
                 LIBS hearth_auth_test_hooks)
