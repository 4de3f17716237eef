# Stored records of the auth module (src/auth), as hearth_auth_open() reads
# them back from the secure store: the brute-force limiter state
# ("auth.ratelimit", hearth_rl_load), account records ("auth.user.<name>")
# and the session record ("auth.sessions"). The last two are decoders
# internal to src/auth (records.c), reached through TEST hooks in
# auth_internal.h.
hearth_fuzz_target(NAME auth_ratelimit SOURCE fuzz_auth_ratelimit.c PROVISIONS 5.1-5 5.13-1)
hearth_fuzz_target(NAME auth_user SOURCE fuzz_auth_user.c PROVISIONS 5.4-1 5.13-1)
hearth_fuzz_target(NAME auth_sessions SOURCE fuzz_auth_sessions.c PROVISIONS 5.4-1 5.13-1)

# Seed generator for corpus/auth_*/ (not a test; docs/fuzzing.md):
#   make fuzz_auth_seedgen && tests/fuzz/fuzz_auth_seedgen tests/fuzz/corpus
add_executable(fuzz_auth_seedgen EXCLUDE_FROM_ALL ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_auth_seedgen.c)
target_link_libraries(fuzz_auth_seedgen PRIVATE hearth)
target_include_directories(fuzz_auth_seedgen PRIVATE ${PROJECT_SOURCE_DIR}/src)
