# Strict request-body validation under arbitrary input.
hearth_fuzz_target(NAME json SOURCE fuzz_json.c PROVISIONS 5.13-1)
