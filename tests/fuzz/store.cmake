# Store file parser (src/store/store_format.c); seeds from store_seedgen.
hearth_fuzz_target(NAME store SOURCE fuzz_store.c PROVISIONS 5.4-1 5.13-1)
