# hearthd's request-head pre-parser (src/api/http_head.c): raw decrypted
# request bytes, checked against an independent line scanner.
hearth_fuzz_target(NAME http_head SOURCE fuzz_http_head.c PROVISIONS 5.13-1 5.5-5)
