/*
 * The sim port: simulated hardware for tests and development machines.
 * Every channel is backed by plain files a test (or a developer) can write
 * and read, named by the port options (docs/ports.md, "The sim port"):
 *
 *   temperature_file=PATH  temperature_c: the file's number (missing or empty
 *                          file: no reading; anything else: rejected reading);
 *                          without it, temperature_c is a simulated room that
 *                          the heater warms (hearth_sim_room_advance)
 *   room_tick_ms=N         the simulated room advances N ms (1..60000) per
 *                          read instead of the time elapsed since the last one
 *   power_file=PATH        power_w from the file instead of the simulated load
 *   load_w=W               simulated load drawn while the relay is on (0..3680,
 *                          default 60); power_w is 0 while it is off
 *   relay_file=PATH        written "1\n" / "0\n" each time the relay switches
 *   heater_file=PATH       written "1\n" / "0\n" each time the heater switches
 *   button_file=PATH       the factory-reset button: creating the file presses
 *                          it; the port removes the file when it reports the press
 *
 * The TPM connection and the root of trust are the build's (NULL below); the
 * state directory has no default (programs are told it with --state).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hearth/port_sim.h"
#include "hearth/util.h"

#define SIM_PATH_MAX 4096
#define SIM_LOAD_DEFAULT_W 60.0
#define SIM_LOAD_MAX_W 3680.0 /* 16 A at 230 V: the most a plug may switch */

/* The files behind the channels, in the order of their option keys. */
typedef enum { F_TEMPERATURE, F_POWER, F_RELAY, F_HEATER, F_BUTTON, F_COUNT } sim_file;
static const char *const file_key[F_COUNT] = {
    [F_TEMPERATURE] = "temperature_file", [F_POWER] = "power_file",
    [F_RELAY] = "relay_file",             [F_HEATER] = "heater_file",
    [F_BUTTON] = "button_file",
};

typedef struct {
    char *file[F_COUNT]; /* NULL: that file is not used */
    double load_w;
    bool relay;
    bool heater;
    double room_c;         /* the simulated room (no temperature_file) */
    uint32_t room_tick_ms; /* 0: advance by the time elapsed since room_ms */
    int64_t room_ms;       /* hearth_mono_ms() the room was last advanced to */
} sim;

double hearth_sim_room_advance(double room_c, bool heating, uint32_t elapsed_ms)
{
    double dt_s = (double)elapsed_ms / 1000.0 * HEARTH_SIM_ROOM_SPEEDUP;
    double steady = HEARTH_SIM_ROOM_OUTSIDE_C + (heating ? HEARTH_SIM_ROOM_HEATER_RISE_C : 0.0);
    return steady + (room_c - steady) * exp(-dt_s / HEARTH_SIM_ROOM_TAU_S);
}

/* Bring the time-based room up to now with the heater as it has been. */
static void room_catch_up(sim *s)
{
    if (s->room_tick_ms != 0) return;
    int64_t now = hearth_mono_ms();
    int64_t elapsed = now - s->room_ms;
    if (elapsed <= 0) return;
    /* Long gaps in bounded steps: the result is the same, the argument fits. */
    while (elapsed > 0) {
        uint32_t step = elapsed > 3600000 ? 3600000u : (uint32_t)elapsed;
        s->room_c = hearth_sim_room_advance(s->room_c, s->heater, step);
        elapsed -= step;
    }
    s->room_ms = now;
}

static void sim_close(void *ctx)
{
    sim *s = ctx;
    if (s == NULL) return;
    for (int i = 0; i < F_COUNT; i++) free(s->file[i]);
    free(s);
}

static hearth_status set_load(sim *s, const char *value)
{
    hearth_reading r;
    if (hearth_reading_parse(value, strlen(value), &r) != HEARTH_OK || r.value < 0.0 ||
        r.value > SIM_LOAD_MAX_W)
        return hearth_err(HEARTH_ERR_INVALID, "sim port: load_w must be a number 0..%g",
                          SIM_LOAD_MAX_W);
    s->load_w = r.value;
    return HEARTH_OK;
}

static hearth_status set_room_tick(sim *s, const char *value)
{
    hearth_reading r;
    if (hearth_reading_parse(value, strlen(value), &r) != HEARTH_OK || r.value < 1.0 ||
        r.value > HEARTH_SIM_ROOM_TICK_MAX_MS || r.value != floor(r.value))
        return hearth_err(HEARTH_ERR_INVALID, "sim port: room_tick_ms must be a whole number 1..%d",
                          HEARTH_SIM_ROOM_TICK_MAX_MS);
    s->room_tick_ms = (uint32_t)r.value;
    return HEARTH_OK;
}

static hearth_status apply(sim *s, const hearth_port_option *o)
{
    if (o->key == NULL || o->value == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "sim port: empty option");
    if (strcmp(o->key, "load_w") == 0) return set_load(s, o->value);
    if (strcmp(o->key, "room_tick_ms") == 0) {
        if (s->room_tick_ms != 0)
            return hearth_err(HEARTH_ERR_INVALID, "sim port: %s given twice", o->key);
        return set_room_tick(s, o->value);
    }
    for (int i = 0; i < F_COUNT; i++) {
        if (strcmp(o->key, file_key[i]) != 0) continue;
        if (s->file[i] != NULL)
            return hearth_err(HEARTH_ERR_INVALID, "sim port: %s given twice", o->key);
        if (o->value[0] == '\0' || strlen(o->value) >= SIM_PATH_MAX)
            return hearth_err(HEARTH_ERR_INVALID, "sim port: %s needs a path", o->key);
        s->file[i] = strdup(o->value);
        return s->file[i] != NULL ? HEARTH_OK : hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    return hearth_err(HEARTH_ERR_INVALID, "sim port: unknown option \"%.40s\"", o->key);
}

static hearth_status sim_open(const hearth_port_option *opts, size_t n, void **ctx)
{
    sim *s = calloc(1, sizeof *s);
    if (s == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    s->load_w = SIM_LOAD_DEFAULT_W;
    s->room_c = HEARTH_SIM_ROOM_START_C;
    s->room_ms = hearth_mono_ms();
    for (size_t i = 0; i < n; i++) {
        hearth_status st = apply(s, &opts[i]);
        if (st != HEARTH_OK) {
            sim_close(s);
            return st;
        }
    }
    *ctx = s;
    return HEARTH_OK;
}

/* A sensor file: missing or empty is "no reading" (a writer may be between
 * truncate and write); anything else must be one number. */
static hearth_status read_file(const char *path, hearth_reading *out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    hearth_status st = hearth_fs_read_file(path, HEARTH_READING_RAW_MAX, &buf, &len);
    if (st == HEARTH_OK && len == 0) st = HEARTH_ERR_NOT_FOUND;
    if (st == HEARTH_OK) st = hearth_reading_parse((const char *)buf, len, out);
    free(buf);
    if (st == HEARTH_ERR_TOO_LARGE) {
        snprintf(out->raw, sizeof out->raw, "(longer than a reading)");
        return hearth_err(HEARTH_ERR_INVALID, "sim port: %s is longer than a reading", path);
    }
    if (st == HEARTH_ERR_NOT_FOUND) hearth_err_clear();
    return st;
}

static hearth_status sim_read(void *ctx, const char *channel, hearth_reading *out)
{
    sim *s = ctx;
    if (strcmp(channel, HEARTH_SENSOR_TEMPERATURE_C) == 0) {
        if (s->file[F_TEMPERATURE] != NULL) return read_file(s->file[F_TEMPERATURE], out);
        if (s->room_tick_ms != 0)
            s->room_c = hearth_sim_room_advance(s->room_c, s->heater, s->room_tick_ms);
        else
            room_catch_up(s);
        out->value = s->room_c;
        snprintf(out->raw, sizeof out->raw, "%.3f", s->room_c);
        return HEARTH_OK;
    }
    if (strcmp(channel, HEARTH_SENSOR_POWER_W) == 0) {
        if (s->file[F_POWER] != NULL) return read_file(s->file[F_POWER], out);
        out->value = s->relay ? s->load_w : 0.0;
        return HEARTH_OK;
    }
    return hearth_err(HEARTH_ERR_UNSUPPORTED, "sim port: no sensor \"%.40s\"", channel);
}

/* The actuator's observable side: its state as "1\n" or "0\n". */
static hearth_status mirror(const char *path, bool on)
{
    if (path == NULL) return HEARTH_OK;
    return hearth_fs_write_atomic(path, on ? "1\n" : "0\n", 2, 0644);
}

static hearth_status sim_set(void *ctx, const char *channel, bool on)
{
    sim *s = ctx;
    if (strcmp(channel, HEARTH_ACTUATOR_RELAY) == 0) {
        HEARTH_GUARD(mirror(s->file[F_RELAY], on));
        s->relay = on;
        return HEARTH_OK;
    }
    if (strcmp(channel, HEARTH_ACTUATOR_HEATER) == 0) {
        HEARTH_GUARD(mirror(s->file[F_HEATER], on));
        room_catch_up(s); /* the room warmed or cooled with the old state until now */
        s->heater = on;
        return HEARTH_OK;
    }
    return hearth_err(HEARTH_ERR_UNSUPPORTED, "sim port: no actuator \"%.40s\"", channel);
}

static hearth_status sim_button(void *ctx, bool *pressed)
{
    sim *s = ctx;
    *pressed = false;
    if (s->file[F_BUTTON] == NULL) return HEARTH_OK;
    /* Removing the file is the press: exactly one poll sees each one. */
    if (unlink(s->file[F_BUTTON]) == 0) {
        *pressed = true;
        return HEARTH_OK;
    }
    if (errno == ENOENT) return HEARTH_OK;
    return hearth_err(HEARTH_ERR_IO, "sim port: button %s: %s", s->file[F_BUTTON], strerror(errno));
}

const hearth_port hearth_port_sim = {
    .name = "sim",
    .rot = NULL,
    .tpm_tcti = NULL,
    .state_dir = NULL,
    .open = sim_open,
    .close = sim_close,
    .read = sim_read,
    .set = sim_set,
    .button = sim_button,
};
