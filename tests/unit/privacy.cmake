# Personal data and consent: the notice from the inventory, the consent
# registry (default off, recorded, kept, withdrawn, user erased, tampered
# record refused), the receipt, the service erase's request and receipt checks.
hearth_unit_test(NAME privacy PROVISIONS 6-1 6-2 6-3 5.8-3 5.11-2 5.11-4
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_privacy.c LIBS PkgConfig::CJSON PkgConfig::OPENSSL)
# docs/privacy-notice.md is the notice the build generates from the
# inventory (6-1): the committed copy must be byte-identical.
hearth_add_test(NAME unit.privacy_doc KIND unit PROVISIONS 6-1 5.8-3
                COMMAND ${CMAKE_COMMAND} -E compare_files ${HEARTH_PRIVACY_GENERATED_MD}
                        ${PROJECT_SOURCE_DIR}/docs/privacy-notice.md
                TIMEOUT 30)
