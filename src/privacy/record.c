/*
 * Reading the privacy module's records from the secure store: one place for
 * "absent is fine, present must parse" (the consent registry and the
 * service-erase record both use it).
 */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "hearth/util.h"
#include "privacy_internal.h"

hearth_status pv_record_read(hearth_store *store, const char *name, size_t max, bool *found,
                             cJSON **doc)
{
    *found = false;
    *doc = NULL;
    char *buf = malloc(max + 1);
    HEARTH_ENSURE(buf != NULL, hearth_err(HEARTH_ERR_NOMEM, "privacy: out of memory"));
    size_t len = 0;
    hearth_status st = hearth_store_get(store, name, buf, max, &len);
    if (st == HEARTH_OK) {
        *found = true;
        *doc = cJSON_ParseWithLength(buf, len);
    } else if (st == HEARTH_ERR_NOT_FOUND) {
        hearth_err_clear();
        st = HEARTH_OK;
    }
    free(buf);
    return st;
}
