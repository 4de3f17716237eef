# The MQTT link's strict parsers and request-id memory (hearth/link.h).
if(HEARTH_WITH_LINK)
  hearth_unit_test(NAME link PROVISIONS 5.13-1 5.5-5 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_link.c)
endif()
