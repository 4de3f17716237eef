# Test registration. Every test names the EN 303 645 provisions it evidences:
# they become ctest LABELS (`ctest -L 5.1-5` runs the evidence for 5.1-5) and
# a line in ${CMAKE_BINARY_DIR}/test-provisions.tsv, from which the
# conformance statement is generated.
set(HEARTH_PROVISION_MAP ${CMAKE_BINARY_DIR}/test-provisions.tsv)
file(WRITE ${HEARTH_PROVISION_MAP} "test\tkind\tprovisions\n")

function(_hearth_check_provisions name)
  if(NOT ARGN)
    message(FATAL_ERROR "test ${name} names no EN 303 645 provision")
  endif()
  foreach(p ${ARGN})
    if(NOT p MATCHES "^(5\\.[0-9]+-[0-9]+|6-[0-9]+)$")
      message(FATAL_ERROR "test ${name}: '${p}' is not an EN 303 645 provision id")
    endif()
  endforeach()
endfunction()

# hearth_add_test(NAME n KIND unit|integration|fault|fuzz|build
#                 PROVISIONS 5.x-y ... COMMAND cmd args... [TIMEOUT s] [SERIAL])
function(hearth_add_test)
  cmake_parse_arguments(T "SERIAL" "NAME;KIND;TIMEOUT" "PROVISIONS;COMMAND" ${ARGN})
  _hearth_check_provisions(${T_NAME} ${T_PROVISIONS})
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES
    LABELS "${T_KIND};${T_PROVISIONS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "HEARTH_BUILD_DIR=${CMAKE_BINARY_DIR};HEARTH_SOURCE_DIR=${PROJECT_SOURCE_DIR};ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  if(T_SERIAL)
    set_tests_properties(${T_NAME} PROPERTIES RUN_SERIAL TRUE)
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
# script's header carries `# provisions: 5.1-1 5.1-2` (required) and
# optionally `# timeout: 600` and `# serial: yes`.
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
    hearth_add_test(NAME ${T_KIND}.${base} KIND ${T_KIND} PROVISIONS ${provs}
                    COMMAND bash ${s} TIMEOUT ${timeout} ${serial})
  endforeach()
endfunction()
