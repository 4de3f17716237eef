# The registered applications (src/app, include/hearth/app.h): table checks,
# lifecycle order and roll-back, the self-tests a post-update confirmation
# runs (5.3-4) and the update notice built from the applications' sentences
# (5.3-12), and the erasure hooks reaching every application (5.11-1).
hearth_unit_test(NAME app PROVISIONS 5.3-4 5.3-12 5.11-1 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_app.c)
