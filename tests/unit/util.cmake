hearth_unit_test(NAME util PROVISIONS 5.13-1 5.1-3 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_util.c)
# The security log's sealed personal fields (src/util/seclog_fields.c):
# round trip, tampering and another key refused, fresh nonces, the file and
# what is read back (docs/security-log.md).
hearth_unit_test(NAME seclog_fields PROVISIONS 5.11-1 5.13-1
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_seclog_fields.c)
