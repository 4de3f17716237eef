/* Internal interface of the privacy module: the tables generated from the
 * inventory (inventory_gen.c) and the registry's internals. */
#ifndef HEARTH_PRIVACY_INTERNAL_H
#define HEARTH_PRIVACY_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include "hearth/privacy.h"

typedef hearth_privacy_purpose pv_purpose;
typedef hearth_privacy_sensor pv_sensor;

extern const char pv_notice_version[];
extern const char pv_notice_md[];
extern const char pv_inventory_json[];
extern const pv_purpose pv_purposes[];
extern const size_t pv_n_purposes;
extern const pv_sensor pv_sensors[];
extern const size_t pv_n_sensors;


#define PV_MAX 8 /* consent purposes the registry can hold */

typedef struct {
    int purpose; /* index into ids */
    hearth_privacy_consent c;
} pv_log_entry;

typedef struct {
    const char *item;
    hearth_privacy_count_fn fn;
    void *arg;
} pv_holder;

struct hearth_privacy {
    pthread_mutex_t mu;
    hearth_store *store;
    const char *ids[PV_MAX];
    hearth_privacy_consent c[PV_MAX];
    size_t n;
    pv_log_entry log[HEARTH_PRIVACY_LOG_MAX];
    size_t nlog;
    hearth_privacy_listener fn;
    void *fn_arg;
    pv_holder holders[HEARTH_PRIVACY_HOLDERS_MAX];
    size_t nholders;
    /* service erase (service_erase.c) */
    hearth_privacy_erase_status erase;
    char erase_receipt[HEARTH_PRIVACY_ERASE_RECEIPT_MAX];
    hearth_privacy_erase_listener erase_fn;
    void *erase_arg;
    char *ca_file;
    char device_id[65];
};

/*
 * record.c: read record @p name (at most @p max bytes) from @p store and
 * parse it. None stored: HEARTH_OK with *found false. Stored: *found true and
 * *doc the parsed JSON, NULL if it does not parse (the caller refuses it);
 * the caller frees *doc with cJSON_Delete().
 */
struct cJSON;
hearth_status pv_record_read(hearth_store *store, const char *name, size_t max, bool *found,
                             struct cJSON **doc) HEARTH_MUST_CHECK;

/* service_erase.c: load the erase record at open (under no lock). */
hearth_status pv_erase_load(hearth_privacy *p) HEARTH_MUST_CHECK;

#endif
