# Bundle header + signature block + manifest parser, and the key-set parser
# (src/bundle). Seeds in corpus/bundle_*/ are real bundle prefixes and key
# sets made with the CLI: public keys and signatures only, no private keys.
hearth_fuzz_target(NAME bundle_manifest SOURCE fuzz_bundle_manifest.c PROVISIONS 5.3-9 5.13-1)
hearth_fuzz_target(NAME bundle_keyset SOURCE fuzz_bundle_keyset.c PROVISIONS 5.3-10 5.13-1)
