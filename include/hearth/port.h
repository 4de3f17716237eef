/**
 * @file port.h
 * @brief Platform ports: what a real device provides differently, as one
 *        constant table of functions and data (like MCUboot's ports and
 *        SQLite's VFS).
 *
 * A port lives in its own folder, `ports/<name>/`, and is linked into the
 * device's program, which hands it to the core with hearth_port_use(). It
 * says where the device keeps its state, how it reaches its TPM, and it
 * drives the device's hardware: sensors (read a number), actuators (switch
 * on or off) and the factory-reset button. Applications (include/hearth/
 * app.h) never touch hardware themselves; they go through a hearth_port_dev,
 * so the same application runs on the simulator (`ports/sim`) and on real
 * hardware. What a port is and how to write one: docs/ports.md.
 *
 * Channels (sensors and actuators) are named by strings, agreed between an
 * application and the ports it runs on; the well-known ones are below. A
 * driver answers HEARTH_ERR_UNSUPPORTED for a channel its hardware lacks.
 */
#ifndef HEARTH_PORT_H
#define HEARTH_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Well-known channels. */
#define HEARTH_SENSOR_TEMPERATURE_C "temperature_c" /**< room temperature, degrees C */
#define HEARTH_SENSOR_POWER_W "power_w"             /**< power through the relay, watts */
#define HEARTH_ACTUATOR_HEATER "heater"             /**< heater output, on/off */
#define HEARTH_ACTUATOR_RELAY "relay"               /**< mains relay, on/off */

/** Longest printable copy of a raw reading kept for the event log. */
#define HEARTH_READING_RAW_MAX 40

/** One sensor reading. */
typedef struct {
    double value;                     /**< the reading, finite, in the channel's unit */
    char raw[HEARTH_READING_RAW_MAX]; /**< printable copy of what the driver got (non-
                                           printable bytes as '?'), "" if nothing; for
                                           the event that records a rejected reading */
} hearth_reading;

/** One port option, "key=value" (docs/ports.md lists each port's keys). */
typedef struct {
    const char *key;
    const char *value;
} hearth_port_option;

/**
 * A platform port. Every field is the port's own; the core calls the
 * functions with the context that open() returned, one call at a time
 * (hearth_port_dev serialises them), so a driver needs no locking of its own.
 */
typedef struct hearth_port {
    /** Short name, "sim"; in messages and the event log. */
    const char *name;

    /* ----- data: platform defaults (NULL: the build's, CMake) */
    /** Root-of-trust kind, "file" or "tpm". The environment (HEARTH_ROT)
     *  still overrides it (store.h, hearth_platform_load()). */
    const char *rot;
    /** TPM connection (hearth_tcti_parse() forms); HEARTH_TPM_TCTI overrides. */
    const char *tpm_tcti;
    /** The persistent storage location: the state directory a program uses
     *  when its command line names none. */
    const char *state_dir;

    /* ----- functions */
    /**
     * Open the hardware. @p opts are the program's port options (key=value),
     * @p n of them; an unknown key or a bad value is HEARTH_ERR_INVALID with a
     * reason. *ctx receives the driver's state.
     */
    hearth_status (*open)(const hearth_port_option *opts, size_t n, void **ctx);
    /** Close; every actuator is left off (safe state). */
    void (*close)(void *ctx);
    /**
     * Read sensor @p channel. HEARTH_OK with a finite value; HEARTH_ERR_NOT_FOUND
     * when there is no reading right now; HEARTH_ERR_INVALID when the hardware
     * gave something that is not a reading (out->raw says what);
     * HEARTH_ERR_UNSUPPORTED for a channel this hardware lacks.
     */
    hearth_status (*read)(void *ctx, const char *channel, hearth_reading *out);
    /** Switch actuator @p channel on or off; HEARTH_ERR_UNSUPPORTED for a
     *  channel this hardware lacks, HEARTH_ERR_IO when the hardware failed. */
    hearth_status (*set)(void *ctx, const char *channel, bool on);
    /** Poll the factory-reset button: *pressed is true once per press. */
    hearth_status (*button)(void *ctx, bool *pressed);
} hearth_port;

/**
 * Make @p port this process's platform: check that its table is complete and
 * apply its platform defaults (hearth_platform_set_defaults(), store.h).
 * Once per process, first thing in main(), before any other thread: a second
 * call is HEARTH_ERR_STATE; an incomplete table or an invalid default is
 * HEARTH_ERR_INVALID (and nothing is applied).
 */
hearth_status hearth_port_use(const hearth_port *port) HEARTH_MUST_CHECK;

/** The port hearth_port_use() installed, NULL if none. */
const hearth_port *hearth_port_current(void);

/**
 * The state directory to use: @p given if not NULL, else the port's
 * state_dir, else HEARTH_ERR_INVALID ("no state directory"). @p port may
 * be NULL.
 */
hearth_status hearth_port_state_dir(const hearth_port *port, const char *given,
                                    const char **out) HEARTH_MUST_CHECK;

/** An open port: the driver context plus the lock that serialises calls. */
typedef struct hearth_port_dev hearth_port_dev;

/**
 * Parse "key=value" into @p opt (pointers into @p text, which must outlive
 * it). HEARTH_ERR_INVALID without '=' or with an empty key.
 */
hearth_status hearth_port_option_parse(char *text, hearth_port_option *opt) HEARTH_MUST_CHECK;

/** Open @p port's hardware with @p n options (port->open()). */
hearth_status hearth_port_open(const hearth_port *port, const hearth_port_option *opts, size_t n,
                               hearth_port_dev **out) HEARTH_MUST_CHECK;
/** Stop the button watch, close the hardware (actuators off), free. NULL allowed. */
void hearth_port_close(hearth_port_dev *dev);
/** The port a device was opened with. */
const hearth_port *hearth_port_of(const hearth_port_dev *dev);

/** Read a sensor (port->read(), serialised). A reading that is not finite
 *  is HEARTH_ERR_INVALID whatever the driver said. */
hearth_status hearth_port_read(hearth_port_dev *dev, const char *channel,
                               hearth_reading *out) HEARTH_MUST_CHECK;
/** Switch an actuator (port->set(), serialised). */
hearth_status hearth_port_set(hearth_port_dev *dev, const char *channel,
                              bool on) HEARTH_MUST_CHECK;
/** Poll the factory-reset button once (port->button(), serialised). */
hearth_status hearth_port_button(hearth_port_dev *dev, bool *pressed) HEARTH_MUST_CHECK;

/**
 * Start a thread that polls the factory-reset button every @p period_ms
 * (10..10000). Today a press only records the security event
 * "factory_reset_button" (severity warning, "action":"logged_only") in the
 * event log: no state is erased (docs/ports.md, "Factory-reset button").
 * HEARTH_ERR_STATE if already watching. Start it after any fork.
 */
hearth_status hearth_port_button_watch(hearth_port_dev *dev, uint32_t period_ms) HEARTH_MUST_CHECK;
/** What a button press does (hearth_port_button_watch_cb()). */
typedef void (*hearth_port_press_fn)(void *arg);
/**
 * hearth_port_button_watch() with a press handler: each press is logged
 * as "factory_reset_button" with "action":"factory_reset" and then @p fn
 * runs on the watch thread (the device runtime's factory reset,
 * docs/erasure.md). @p fn NULL: as hearth_port_button_watch().
 */
hearth_status hearth_port_button_watch_cb(hearth_port_dev *dev, uint32_t period_ms,
                                          hearth_port_press_fn fn, void *arg) HEARTH_MUST_CHECK;

/**
 * Parse a sensor's text: exactly one finite decimal number (no spaces, hex,
 * inf or nan), optionally followed by one newline, shorter than
 * HEARTH_READING_RAW_MAX. Fills out->raw with a printable copy of @p text
 * either way. HEARTH_ERR_INVALID if it is not such a number. For drivers
 * whose hardware reports text (sysfs files, the simulator's sensor files).
 */
hearth_status hearth_reading_parse(const char *text, size_t len,
                                   hearth_reading *out) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
