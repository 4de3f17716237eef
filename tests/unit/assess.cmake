# The assessment library's judges and its units JSON (src/assess,
# docs/assessment.md). They show how `hearth assess` decides, not a
# property of a device, so they evidence no provision (kind build, like the
# statement's tests).
add_executable(unit_assess ${CMAKE_CURRENT_LIST_DIR}/test_assess.c)
target_link_libraries(unit_assess PRIVATE hearth PkgConfig::CMOCKA PkgConfig::CJSON)
hearth_add_test(NAME build.assess KIND build PROVISIONS none COMMAND unit_assess TIMEOUT 60)
