# Outbox log scanner (src/outbox/outbox_format.c); seeds written by
# outbox_tool under the throwaway test key (tests/unit/test_outbox_tool.c).
hearth_fuzz_target(NAME outbox SOURCE fuzz_outbox.c PROVISIONS 5.13-1)
