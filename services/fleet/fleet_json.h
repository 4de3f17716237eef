/* Strict loading of untrusted JSON payloads for hearth-fleet (jsonscan.c). */
#ifndef HEARTH_FLEET_JSON_H
#define HEARTH_FLEET_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "hearth/common.h"

/** Lexical checks before parsing (size, UTF-8, NUL, BOM, nesting, numbers). */
hearth_status fleet_json_prescan(const char *p, size_t n, size_t max,
                                 unsigned depth_max) HEARTH_MUST_CHECK;
/** Refuse duplicate keys anywhere below @p node; @p budget bounds the walk. */
hearth_status fleet_json_dupkeys(const cJSON *node, unsigned *budget) HEARTH_MUST_CHECK;
/** Pre-scan, parse and check one JSON object; free *out with cJSON_Delete. */
hearth_status fleet_json_load(const char *p, size_t n, size_t max, unsigned depth_max,
                              cJSON **out) HEARTH_MUST_CHECK;

#endif
