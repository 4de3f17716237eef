# Test registration. Every test names the EN 303 645 provisions it evidences:
# they become ctest LABELS (`ctest -L 5.1-5` runs the evidence for 5.1-5) and
# a line in ${CMAKE_BINARY_DIR}/test-provisions.tsv, from which the
# conformance statement is generated.
#
# The ids are checked against data/en303645-v2.tsv (the 67 provisions of
# EN 303 645 v2 with their Annex B status, condition and TS 103 645 mapping,
# the one list `hearth ics` also compiles in): a test naming anything else is a configure
# error. A test that evidences no provision (a build property that no
# provision asks for) says `none`; only KIND build may do that.
#
# Untested cases: a script test that cannot test what it is about with the
# clients installed prints `UNTESTED: <what> (<why>)` and exits 77, which ctest
# reports as "Not Run" (never "Passed"). A script that tested some things but
# not others passes (or fails) on what it tested and writes one line per
# untested case to ${HEARTH_UNTESTED_DIR}/<test>.tsv (tests/untested.sh);
# scripts/test.sh collects them into ${CMAKE_BINARY_DIR}/test-untested.tsv.
set(HEARTH_PROVISION_MAP ${CMAKE_BINARY_DIR}/test-provisions.tsv)
set(HEARTH_UNTESTED_DIR ${CMAKE_BINARY_DIR}/test-untested)
file(WRITE ${HEARTH_PROVISION_MAP} "test\tkind\tprovisions\n")
file(MAKE_DIRECTORY ${HEARTH_UNTESTED_DIR})

set(HEARTH_PROVISION_LIST ${PROJECT_SOURCE_DIR}/data/en303645-v2.tsv)
file(STRINGS ${HEARTH_PROVISION_LIST} _rows REGEX "^[0-9]")
set(HEARTH_PROVISION_IDS "")
foreach(_row ${_rows})
  string(REGEX MATCH "^[0-9][^\t]*" _id "${_row}")
  list(APPEND HEARTH_PROVISION_IDS "${_id}")
endforeach()
list(LENGTH HEARTH_PROVISION_IDS _n)
if(NOT _n EQUAL 67)
  message(FATAL_ERROR "${HEARTH_PROVISION_LIST}: ${_n} provision ids, EN 303 645 v2 has 67")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${HEARTH_PROVISION_LIST})

function(_hearth_check_provisions name kind)
  if(NOT ARGN)
    message(FATAL_ERROR "test ${name} names no EN 303 645 provision (write `none` only for KIND build)")
  endif()
  if(ARGN STREQUAL "none")
    if(NOT kind STREQUAL "build")
      message(FATAL_ERROR "test ${name}: only KIND build may evidence no provision (`none`)")
    endif()
    return()
  endif()
  foreach(p ${ARGN})
    list(FIND HEARTH_PROVISION_IDS "${p}" i)
    if(i LESS 0)
      message(FATAL_ERROR "test ${name}: '${p}' is not an EN 303 645 v2 provision (see ${HEARTH_PROVISION_LIST})")
    endif()
  endforeach()
  set(seen "")
  foreach(p ${ARGN})
    list(FIND seen "${p}" i)
    if(NOT i LESS 0)
      message(FATAL_ERROR "test ${name}: provision ${p} named twice")
    endif()
    list(APPEND seen "${p}")
  endforeach()
endfunction()

# hearth_add_test(NAME n KIND unit|integration|fault|fuzz|build
#                 PROVISIONS 5.x-y ...|none COMMAND cmd args... [TIMEOUT s]
#                 [SERIAL] [SCRIPT])
function(hearth_add_test)
  cmake_parse_arguments(T "SERIAL;SCRIPT" "NAME;KIND;TIMEOUT" "PROVISIONS;COMMAND" ${ARGN})
  _hearth_check_provisions(${T_NAME} "${T_KIND}" ${T_PROVISIONS})
  if(T_PROVISIONS STREQUAL "none")
    set(T_PROVISIONS "")
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES
    LABELS "${T_KIND};${T_PROVISIONS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "HEARTH_TEST_NAME=${T_NAME};HEARTH_UNTESTED_DIR=${HEARTH_UNTESTED_DIR};HEARTH_BUILD_DIR=${CMAKE_BINARY_DIR};HEARTH_SOURCE_DIR=${PROJECT_SOURCE_DIR};HEARTH_FETCH_PROGRAM=${CMAKE_BINARY_DIR}/fetch/hearth-fetch;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  # The timeout is the test's expected length class: ctest starts the
  # costliest first, so the longest tests (the fault sweeps, the
  # 1000-device provisioning, clang-tidy) do not run alone at the end of
  # a fresh-clone run, which has no timing history to order by.
  set_tests_properties(${T_NAME} PROPERTIES COST ${T_TIMEOUT})
  if(T_SERIAL)
    set_tests_properties(${T_NAME} PROPERTIES RUN_SERIAL TRUE)
  endif()
  # Scripts report "nothing here could be tested" with exit 77 (ctest: Not
  # Run). Not for cmocka executables: their exit status is a failure count.
  if(T_SCRIPT)
    set_tests_properties(${T_NAME} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
  string(REPLACE ";" " " plist "${T_PROVISIONS}")
  file(APPEND ${HEARTH_PROVISION_MAP} "${T_NAME}\t${T_KIND}\t${plist}\n")
endfunction()

# hearth_unit_test(NAME n PROVISIONS ... SOURCES a.c b.c [LIBS ...])
# A cmocka executable linked against the library.
function(hearth_unit_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "PROVISIONS;SOURCES;LIBS" ${ARGN})
  add_executable(unit_${T_NAME} ${T_SOURCES})
  target_link_libraries(unit_${T_NAME} PRIVATE hearth PkgConfig::CMOCKA ${T_LIBS})
  target_include_directories(unit_${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests/unit)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  hearth_add_test(NAME unit.${T_NAME} KIND unit PROVISIONS ${T_PROVISIONS}
                  COMMAND unit_${T_NAME} TIMEOUT ${T_TIMEOUT})
endfunction()

# hearth_script_tests(KIND k DIR d): every d/test_*.sh becomes a test. The
# script's header carries `# provisions: 5.1-1 5.1-2` (required; `none` for
# KIND build only) and
# optionally `# timeout: 600`, `# serial: yes`, `# needs: OPTION ...` and
# `# external: yes` (the test runs no Hearth program, only third-party
# components with Hearth's shipped configuration: label "external", which
# the sanitizer run of scripts/test.sh leaves out, as it would check nothing
# of Hearth's code) or `# release-only: yes` (a long test whose Hearth code
# other tests already run under the sanitizers: label "release-only", also
# left out of the sanitizer run; the script's header says which tests).
function(hearth_script_tests)
  cmake_parse_arguments(T "" "KIND;DIR" "" ${ARGN})
  file(GLOB scripts ${T_DIR}/test_*.sh)
  list(SORT scripts)
  foreach(s ${scripts})
    get_filename_component(base ${s} NAME_WE)
    string(REGEX REPLACE "^test_" "" base ${base})
    file(STRINGS ${s} plines REGEX "^# provisions:")
    file(STRINGS ${s} tlines REGEX "^# timeout:")
    file(STRINGS ${s} slines REGEX "^# serial: yes")
    string(REGEX REPLACE "^# provisions:[ ]*" "" provs "${plines}")
    string(REGEX REPLACE "[ ,]+" ";" provs "${provs}")
    set(timeout 300)
    if(tlines)
      string(REGEX REPLACE "^# timeout:[ ]*" "" timeout "${tlines}")
    endif()
    set(serial "")
    if(slines)
      set(serial SERIAL)
    endif()
    # `# needs: HEARTH_TPM ...`: build options the test needs. When one is
    # OFF the test is still registered, runs tests/skipped.sh instead
    # (recorded as untested, exit 77: ctest "Not Run"), and is left out of
    # test-provisions.tsv: it evidences nothing in this build.
    file(STRINGS ${s} nlines REGEX "^# needs:")
    string(REGEX REPLACE "^# needs:[ ]*" "" needs "${nlines}")
    string(REGEX REPLACE "[ ,]+" ";" needs "${needs}")
    set(missing "")
    foreach(opt ${needs})
      if(NOT opt MATCHES "^HEARTH_[A-Z_]+$")
        message(FATAL_ERROR "${s}: '# needs: ${opt}' is not a HEARTH_ build option")
      endif()
      if(NOT ${opt})
        list(APPEND missing "${opt}=OFF")
      endif()
    endforeach()
    if(missing)
      _hearth_check_provisions(${T_KIND}.${base} "${T_KIND}" ${provs})
      string(REPLACE ";" ", " missing "${missing}")
      add_test(NAME ${T_KIND}.${base}
               COMMAND bash ${PROJECT_SOURCE_DIR}/tests/skipped.sh "built with ${missing}")
      set_tests_properties(${T_KIND}.${base} PROPERTIES
        LABELS "${T_KIND};skipped" SKIP_RETURN_CODE 77
        ENVIRONMENT "HEARTH_TEST_NAME=${T_KIND}.${base};HEARTH_UNTESTED_DIR=${HEARTH_UNTESTED_DIR};HEARTH_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
      continue()
    endif()
    hearth_add_test(NAME ${T_KIND}.${base} KIND ${T_KIND} PROVISIONS ${provs}
                    COMMAND bash ${s} TIMEOUT ${timeout} ${serial} SCRIPT)
    file(STRINGS ${s} elines REGEX "^# external: yes")
    if(elines)
      set_property(TEST ${T_KIND}.${base} APPEND PROPERTY LABELS external)
    endif()
    file(STRINGS ${s} rlines REGEX "^# release-only: yes")
    if(rlines)
      set_property(TEST ${T_KIND}.${base} APPEND PROPERTY LABELS release-only)
    endif()
  endforeach()
endfunction()
