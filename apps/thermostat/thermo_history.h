/* The thermostat's bounded temperature history (history.c). */
#ifndef HEARTH_THERMO_HISTORY_H
#define HEARTH_THERMO_HISTORY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hearth/thermostat.h"

#define THERMO_HISTORY_MAX 288          /* samples kept: 24 h at the default interval */
#define THERMO_HISTORY_INTERVAL_S 300   /* default --history-interval */

typedef struct {
    int64_t t_ms; /* unix ms */
    double c;
} thermo_sample;

typedef struct {
    hearth_thermo *thermo;
    uint32_t interval_s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop;
    thermo_sample s[THERMO_HISTORY_MAX];
    size_t head, count;
} thermo_history;

void thermo_history_init(thermo_history *h, hearth_thermo *thermo, uint32_t interval_s);
void thermo_history_destroy(thermo_history *h);
/** Append one sample (the oldest goes when full). */
void thermo_history_add(thermo_history *h, int64_t t_ms, double c);
hearth_status thermo_history_start(thermo_history *h) HEARTH_MUST_CHECK;
void thermo_history_stop(thermo_history *h);
size_t thermo_history_count(thermo_history *h);
void thermo_history_clear(thermo_history *h);
/** Samples after @p after_ms as [{"t":ms,"c":x.xx},...], at most @p max. */
hearth_status thermo_history_json(thermo_history *h, int64_t after_ms, size_t max, char *buf, size_t cap,
                                  size_t *count, int64_t *last_ms) HEARTH_MUST_CHECK;

#endif
