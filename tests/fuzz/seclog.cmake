# A line of events.log read back for the events API (docs/security-log.md).
hearth_fuzz_target(NAME seclog_line SOURCE fuzz_seclog_line.c PROVISIONS 5.13-1)
