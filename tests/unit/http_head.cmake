# hearthd's request-head pre-parser (src/api/http_head.c): framing rules,
# upload detection, bounds on kept header values.
hearth_unit_test(NAME http_head
  PROVISIONS 5.13-1 5.5-5
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_head.c)
# Differential check against a real libevent evhttp (framing must agree).
hearth_unit_test(NAME http_head_evhttp
  PROVISIONS 5.13-1
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http_head_evhttp.c
  LIBS PkgConfig::LIBEVENT)
