/* The reference device's basic function: an offline room thermostat.
 *
 * Locking: `mu` guards the control state and is only ever held for a few
 * arithmetic operations, by the control loop and by get/set. `set_mu`
 * serialises setters around the secure-store commit, which may take tens of
 * milliseconds (fsync); the control loop never takes `set_mu`, so a slow disk
 * cannot delay a control step. Sensor reads (through the platform port),
 * heartbeat writes and event logging happen outside `mu` too. Design notes: docs/thermostat.md. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hearth/thermostat.h"
#include "hearth/util.h"
#include "thermo_internal.h"

#define DEFAULT_TARGET_C 20.0
#define DEFAULT_MODE HEARTH_MODE_HEAT
#define SETTINGS_MAX 64          /* bytes of the stored settings record */
#define REJECT_LOG_EVERY 100     /* log the 1st and every 100th rejected reading */

struct hearth_thermo {
    hearth_store *store;
    hearth_thermo_config cfg;
    char *heartbeat_path;
    int hb_fd;
    size_t hb_len;               /* length of the last heartbeat line */
    bool hw_known;               /* the port's heater has been switched at least once ... */
    bool hw_heating;             /* ... to this (control thread only, then stop) */

    pthread_mutex_t set_mu;      /* serialises setters (store commit + apply) */
    pthread_mutex_t mu;          /* guards everything below */
    double target_c;
    hearth_thermo_mode mode;
    double current_c;
    bool heating;
    bool have_reading;
    bool sensor_lost_logged;
    int64_t last_good_ms;
    uint64_t ticks;
    uint64_t rejected;
    int64_t last_tick_ms;

    pthread_t thread;
    bool running;
    bool stop_req;
    pthread_cond_t cond;         /* wakes the loop early on stop */
};

const char *hearth_thermo_mode_name(hearth_thermo_mode m)
{
    switch (m) {
    case HEARTH_MODE_OFF: return "off";
    case HEARTH_MODE_HEAT: return "heat";
    }
    return "?";
}

hearth_status hearth_thermo_mode_parse(const char *s, hearth_thermo_mode *out)
{
    if (s == NULL || out == NULL) return hearth_err(HEARTH_ERR_INVALID, "mode missing");
    if (strcmp(s, "off") == 0) {
        *out = HEARTH_MODE_OFF;
    } else if (strcmp(s, "heat") == 0) {
        *out = HEARTH_MODE_HEAT;
    } else {
        return hearth_err(HEARTH_ERR_INVALID, "mode must be \"off\" or \"heat\"");
    }
    return HEARTH_OK;
}

void hearth_thermo_config_default(hearth_thermo_config *c)
{
    memset(c, 0, sizeof *c);
    c->tick_ms = 250;
    c->heartbeat_path = NULL;
    c->hysteresis_c = 0.3;
    c->sensor_timeout_ms = 10000;
}

/* ------------------------------------------------------------ pure logic */

bool thermo_target_valid(double c)
{
    return isfinite(c) && c >= HEARTH_TARGET_MIN_C && c <= HEARTH_TARGET_MAX_C;
}

bool thermo_hysteresis(bool heating, double current_c, double target_c, double hyst_c)
{
    if (current_c <= target_c - hyst_c) return true;
    if (current_c >= target_c + hyst_c) return false;
    return heating; /* inside the band: keep the current state (no chatter) */
}

size_t thermo_settings_encode(double target_c, hearth_thermo_mode mode, char *buf, size_t cap)
{
    /* "1 <target> <mode>": format version, then values; %.17g round-trips. */
    int n = snprintf(buf, cap, "1 %.17g %s", target_c, hearth_thermo_mode_name(mode));
    return (n > 0 && (size_t)n < cap) ? (size_t)n : 0;
}

hearth_status thermo_settings_decode(const char *buf, size_t len, double *target_c,
                                     hearth_thermo_mode *mode)
{
    char tmp[SETTINGS_MAX + 1];
    if (len < 2 || len > SETTINGS_MAX || memchr(buf, 0, len) != NULL) return HEARTH_ERR_INVALID;
    memcpy(tmp, buf, len);
    tmp[len] = '\0';
    if (tmp[0] != '1' || tmp[1] != ' ') return HEARTH_ERR_UNSUPPORTED;
    char *num = tmp + 2;
    char *sp = strchr(num, ' ');
    if (sp == NULL) return HEARTH_ERR_INVALID;
    *sp = '\0';
    /* Decimal only: strtod would also take hex floats, "inf" and spaces. */
    if (strspn(num, "0123456789+-.eE") != strlen(num)) return HEARTH_ERR_INVALID;
    errno = 0;
    char *end = NULL;
    double t = strtod(num, &end);
    if (end == num || *end != '\0' || errno == ERANGE || !thermo_target_valid(t)) return HEARTH_ERR_INVALID;
    /* Set only to satisfy gcc -O3's maybe-uninitialized analysis, which cannot
     * see that the parser writes m whenever it returns HEARTH_OK. */
    hearth_thermo_mode m = HEARTH_MODE_OFF;
    if (hearth_thermo_mode_parse(sp + 1, &m) != HEARTH_OK) {
        hearth_err_clear();
        return HEARTH_ERR_INVALID;
    }
    *target_c = t;
    *mode = m;
    return HEARTH_OK;
}

/* ------------------------------------------------------------------ I/O */

typedef enum { READ_NONE, READ_GOOD, READ_REJECTED } read_result;

/* Read the temperature through the platform port (cfg.port; none: no
 * reading, so the fail safe keeps the heater off). A reading outside the
 * sensor's physical limits or one the driver could not parse is rejected,
 * with its printable text in @p raw for the event log; "no reading now" and
 * a port without this sensor are no reading. */
static read_result read_sensor(hearth_port_dev *port, double *out, char *raw, size_t rawcap)
{
    raw[0] = '\0';
    if (port == NULL) return READ_NONE;
    hearth_reading r;
    memset(&r, 0, sizeof r);
    hearth_status st = hearth_port_read(port, HEARTH_SENSOR_TEMPERATURE_C, &r);
    if (st == HEARTH_OK || st == HEARTH_ERR_INVALID) {
        if (r.raw[0] != '\0') snprintf(raw, rawcap, "%s", r.raw);
        else if (st == HEARTH_OK) snprintf(raw, rawcap, "%g", r.value);
    }
    hearth_err_clear();
    if (st == HEARTH_ERR_INVALID) return READ_REJECTED;
    if (st != HEARTH_OK) return READ_NONE;
    if (r.value < HEARTH_SENSOR_MIN_C || r.value > HEARTH_SENSOR_MAX_C) return READ_REJECTED;
    *out = r.value;
    return READ_GOOD;
}

static int64_t epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_heartbeat(hearth_thermo *t, bool heating)
{
    if (t->hb_fd < 0) return;
    char line[48];
    int n = snprintf(line, sizeof line, "%lld %d\n", (long long)epoch_ms(), heating ? 1 : 0);
    if (n <= 0 || (size_t)n >= sizeof line) return;
    /* Overwrite in place; the line has a constant length for centuries, so
     * a reader never sees a mix of old and new bytes. */
    if (pwrite(t->hb_fd, line, (size_t)n, 0) != n) return;
    if ((size_t)n != t->hb_len) {
        if (ftruncate(t->hb_fd, n) == 0) t->hb_len = (size_t)n;
    }
}

/* Switch the port's heater when the output changes (cfg.port; control
 * thread, or stop after the join). A failure is logged and retried next tick. */
static void drive_heater(hearth_thermo *t, bool heating)
{
    if (t->cfg.port == NULL || (t->hw_known && t->hw_heating == heating)) return;
    if (hearth_port_set(t->cfg.port, HEARTH_ACTUATOR_HEATER, heating) != HEARTH_OK) {
        if (t->hw_known || t->hw_heating != heating)
            hearth_seclog(HEARTH_SEV_WARNING, "heater_switch_failed", "heating",
                          heating ? "true" : "false", "error", hearth_err_msg(), NULL);
        hearth_err_clear();
        t->hw_known = false;
        t->hw_heating = heating;
        return;
    }
    t->hw_known = true;
    t->hw_heating = heating;
}

/* ------------------------------------------------------------ lifecycle */

static hearth_status load_settings(hearth_thermo *t)
{
    t->target_c = DEFAULT_TARGET_C;
    t->mode = DEFAULT_MODE;
    if (t->store == NULL) return HEARTH_OK;
    char buf[SETTINGS_MAX];
    size_t len = 0;
    hearth_status st = hearth_store_get(t->store, HEARTH_THERMO_RECORD, buf, sizeof buf, &len);
    if (st == HEARTH_ERR_NOT_FOUND) {
        hearth_err_clear();
        return HEARTH_OK;
    }
    if (st == HEARTH_OK) st = thermo_settings_decode(buf, len, &t->target_c, &t->mode);
    if (st == HEARTH_ERR_INVALID || st == HEARTH_ERR_TOO_LARGE || st == HEARTH_ERR_UNSUPPORTED) {
        /* The store authenticated the record, so this is a bug or a format
         * from another version: keep heating safely with the defaults. */
        t->target_c = DEFAULT_TARGET_C;
        t->mode = DEFAULT_MODE;
        hearth_seclog(HEARTH_SEV_WARNING, "thermostat_settings_invalid", "record", HEARTH_THERMO_RECORD,
                      "action", "defaults", NULL);
        hearth_err_clear();
        return HEARTH_OK;
    }
    return st;
}

static hearth_status check_config(const hearth_thermo_config *c)
{
    if (c->tick_ms < 1 || c->tick_ms > 60000) {
        return hearth_err(HEARTH_ERR_INVALID, "thermostat tick_ms must be 1..60000");
    }
    if (!isfinite(c->hysteresis_c) || c->hysteresis_c < 0.05 || c->hysteresis_c > 5.0) {
        return hearth_err(HEARTH_ERR_INVALID, "thermostat hysteresis_c must be 0.05..5");
    }
    if (c->sensor_timeout_ms < 1 || c->sensor_timeout_ms > 3600000) {
        return hearth_err(HEARTH_ERR_INVALID, "thermostat sensor_timeout_ms must be 1..3600000");
    }
    return HEARTH_OK;
}

hearth_status hearth_thermo_open(hearth_store *st, const hearth_thermo_config *cfg, hearth_thermo **out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "thermostat: missing argument");
    *out = NULL;
    hearth_thermo_config def;
    if (cfg == NULL) {
        hearth_thermo_config_default(&def);
        cfg = &def;
    }
    HEARTH_GUARD(check_config(cfg));
    hearth_thermo *t = calloc(1, sizeof *t);
    if (t == NULL) return hearth_err(HEARTH_ERR_NOMEM, "thermostat: out of memory");
    t->store = st;
    t->cfg = *cfg;
    t->hb_fd = -1;
    /* cppcheck-suppress unreadVariable ; a status is defined from its declaration on */
    hearth_status s = HEARTH_OK;
    if (cfg->heartbeat_path != NULL && (t->heartbeat_path = strdup(cfg->heartbeat_path)) == NULL) {
        s = hearth_err(HEARTH_ERR_NOMEM, "thermostat: out of memory");
        goto fail_alloc;
    }
    t->cfg.heartbeat_path = t->heartbeat_path;
    HEARTH_GUARD_GOTO(s, load_settings(t), fail_alloc);
    if (t->heartbeat_path != NULL) {
        t->hb_fd = open(t->heartbeat_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (t->hb_fd < 0) {
            s = hearth_err(HEARTH_ERR_IO, "open heartbeat %s: %s", t->heartbeat_path, strerror(errno));
            goto fail_alloc;
        }
    }
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        s = hearth_err(HEARTH_ERR_INTERNAL, "thermostat: condattr");
        goto fail_fd;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        s = hearth_err(HEARTH_ERR_INTERNAL, "thermostat: cond init");
        goto fail_fd;
    }
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        s = hearth_err(HEARTH_ERR_INTERNAL, "thermostat: mutex init");
        goto fail_cond;
    }
    if (pthread_mutex_init(&t->set_mu, NULL) != 0) {
        s = hearth_err(HEARTH_ERR_INTERNAL, "thermostat: mutex init");
        goto fail_mu;
    }
    *out = t;
    return HEARTH_OK;

fail_mu:
    pthread_mutex_destroy(&t->mu);
fail_cond:
    pthread_cond_destroy(&t->cond);
fail_fd:
    if (t->hb_fd >= 0) close(t->hb_fd);
fail_alloc:
    free(t->heartbeat_path);
    free(t);
    return s;
}

/* ---------------------------------------------------------- control loop */

void hearth_thermo_step(hearth_thermo *t)
{
    int64_t now = hearth_mono_ms();
    double reading = 0.0;
    char raw[HEARTH_READING_RAW_MAX];
    read_result rr = read_sensor(t->cfg.port, &reading, raw, sizeof raw);

    pthread_mutex_lock(&t->mu);
    uint64_t rejected = t->rejected;
    if (rr == READ_GOOD) {
        t->current_c = reading;
        t->have_reading = true;
        t->last_good_ms = now;
    } else if (rr == READ_REJECTED) {
        rejected = ++t->rejected;
    }
    bool sensor_ok = t->have_reading && now - t->last_good_ms <= (int64_t)t->cfg.sensor_timeout_ms;
    bool log_lost = false, log_back = false;
    if (!sensor_ok && t->have_reading && !t->sensor_lost_logged) {
        /* A loss after good readings; "none yet" at boot is not an event. */
        t->sensor_lost_logged = true;
        log_lost = true;
    } else if (sensor_ok && t->sensor_lost_logged) {
        t->sensor_lost_logged = false;
        log_back = true;
    }
    if (t->mode == HEARTH_MODE_OFF || !sensor_ok) {
        t->heating = false; /* fail safe: never heat blind */
    } else {
        t->heating = thermo_hysteresis(t->heating, t->current_c, t->target_c, t->cfg.hysteresis_c);
    }
    bool heating = t->heating;
    t->ticks++;
    t->last_tick_ms = now;
    pthread_mutex_unlock(&t->mu);

    if (rr == READ_REJECTED && (rejected == 1 || rejected % REJECT_LOG_EVERY == 0)) {
        char count[24];
        snprintf(count, sizeof count, "%llu", (unsigned long long)rejected);
        hearth_seclog(HEARTH_SEV_WARNING, "sensor_reading_rejected", "value", raw, "rejected_total", count,
                      NULL);
    }
    if (log_lost) {
        char ms[24];
        snprintf(ms, sizeof ms, "%u", t->cfg.sensor_timeout_ms);
        hearth_seclog(HEARTH_SEV_WARNING, "sensor_lost", "timeout_ms", ms, "action", "heater_off", NULL);
    }
    if (log_back) hearth_seclog(HEARTH_SEV_INFO, "sensor_recovered", NULL);
    drive_heater(t, heating);
    write_heartbeat(t, heating);
}

static void *loop_main(void *arg)
{
    hearth_thermo *t = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        pthread_mutex_lock(&t->mu);
        bool stop = t->stop_req;
        pthread_mutex_unlock(&t->mu);
        if (stop) break;
        hearth_thermo_step(t);

        /* Fixed-rate schedule; if a step overran a whole period, restart
         * the schedule from now instead of running a burst of catch-up steps. */
        next.tv_nsec += (long)(t->cfg.tick_ms % 1000) * 1000000L;
        next.tv_sec += t->cfg.tick_ms / 1000;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec)) {
            next = now;
        }
        pthread_mutex_lock(&t->mu);
        while (!t->stop_req) {
            if (pthread_cond_timedwait(&t->cond, &t->mu, &next) == ETIMEDOUT) break;
        }
        pthread_mutex_unlock(&t->mu);
    }
    return NULL;
}

hearth_status hearth_thermo_start(hearth_thermo *t)
{
    if (t == NULL) return hearth_err(HEARTH_ERR_INVALID, "thermostat: missing argument");
    return hearth_thread_start(&(hearth_thread){&t->mu, &t->cond, &t->thread, &t->running, &t->stop_req},
                               loop_main, t, "thermostat");
}

void hearth_thermo_stop(hearth_thermo *t)
{
    if (t == NULL) return;
    hearth_thread_stop(&(hearth_thread){&t->mu, &t->cond, &t->thread, &t->running, &t->stop_req});
    pthread_mutex_lock(&t->mu);
    t->heating = false; /* nobody is controlling any more: heater off */
    pthread_mutex_unlock(&t->mu);
    drive_heater(t, false);
    write_heartbeat(t, false);
}

void hearth_thermo_close(hearth_thermo *t)
{
    if (t == NULL) return;
    hearth_thermo_stop(t);
    if (t->hb_fd >= 0) close(t->hb_fd);
    pthread_mutex_destroy(&t->set_mu);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cond);
    free(t->heartbeat_path);
    free(t);
}

/* ------------------------------------------------------------- get / set */

void hearth_thermo_get(hearth_thermo *t, hearth_thermo_status *out)
{
    memset(out, 0, sizeof *out);
    if (t == NULL) return;
    int64_t now = hearth_mono_ms();
    pthread_mutex_lock(&t->mu);
    out->current_c = t->current_c;
    out->target_c = t->target_c;
    out->mode = t->mode;
    out->heating = t->heating;
    out->ticks = t->ticks;
    out->rejected_readings = t->rejected;
    out->last_tick_ms = t->last_tick_ms;
    out->sensor_ok = t->have_reading && now - t->last_good_ms <= (int64_t)t->cfg.sensor_timeout_ms;
    pthread_mutex_unlock(&t->mu);
}

hearth_status hearth_thermo_set(hearth_thermo *t, const double *target_c, const hearth_thermo_mode *mode)
{
    if (t == NULL) return hearth_err(HEARTH_ERR_INVALID, "thermostat: missing argument");
    if (target_c != NULL && !thermo_target_valid(*target_c)) {
        return hearth_err(HEARTH_ERR_RANGE, "target must be a number between %g and %g",
                          HEARTH_TARGET_MIN_C, HEARTH_TARGET_MAX_C);
    }
    if (mode != NULL && *mode != HEARTH_MODE_OFF && *mode != HEARTH_MODE_HEAT) {
        return hearth_err(HEARTH_ERR_INVALID, "mode must be \"off\" or \"heat\"");
    }
    pthread_mutex_lock(&t->set_mu);
    pthread_mutex_lock(&t->mu);
    double new_target = target_c != NULL ? *target_c : t->target_c;
    hearth_thermo_mode new_mode = mode != NULL ? *mode : t->mode;
    pthread_mutex_unlock(&t->mu);

    /* Persist first, holding only set_mu: the control loop keeps running
     * while the store fsyncs, and a failed commit changes nothing. */
    hearth_status st = HEARTH_OK;
    if (t->store != NULL) {
        char buf[SETTINGS_MAX];
        size_t len = thermo_settings_encode(new_target, new_mode, buf, sizeof buf);
        st = len == 0 ? hearth_err(HEARTH_ERR_INTERNAL, "thermostat: settings encoding")
                      : hearth_store_put(t->store, HEARTH_THERMO_RECORD, buf, len);
    }
    if (st == HEARTH_OK) {
        pthread_mutex_lock(&t->mu);
        t->target_c = new_target;
        t->mode = new_mode;
        pthread_mutex_unlock(&t->mu);
    }
    pthread_mutex_unlock(&t->set_mu);
    return st;
}
