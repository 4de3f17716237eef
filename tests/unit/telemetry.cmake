# Security telemetry: collector on fixture /proc files, report against the
# schema, each on-device rule with a fake clock, consent, no personal data.
hearth_unit_test(NAME telemetry PROVISIONS 5.10-1 6-4
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_telemetry.c LIBS PkgConfig::CJSON)
# docs/telemetry.md is the disclosure the build generates from the schema
# (6-5): the committed copy must be byte-identical.
hearth_add_test(NAME unit.telemetry_doc KIND unit PROVISIONS 6-5
                COMMAND ${CMAKE_COMMAND} -E compare_files ${HEARTH_TELEMETRY_GENERATED_MD}
                        ${PROJECT_SOURCE_DIR}/docs/telemetry.md
                TIMEOUT 30)
