/**
 * @file layout.h
 * @brief Where a device keeps its state: the one table of names under the
 *        state directory (and the read-only trust anchor beside it).
 *
 * Every program and module builds the path of a device file or directory
 * with hearth_layout_path(); none spells "keys" or "boot/state" itself. A
 * product that keeps, say, its keys on a separate partition changes the
 * entry in src/util/layout.c (an absolute entry is used as is, a relative
 * one is joined to the state directory) and nothing else.
 *
 * What each item holds and who writes it: docs/architecture.md ("The state
 * directory").
 */
#ifndef HEARTH_LAYOUT_H
#define HEARTH_LAYOUT_H

#include <stddef.h>

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The items of a device's state. */
typedef enum {
    HEARTH_LAYOUT_DEVICE_JSON = 0, /**< identity and configuration (device.json) */
    HEARTH_LAYOUT_DEVICE_MAC,      /**< HMAC authenticating device.json */
    HEARTH_LAYOUT_DEVICE_CRT,      /**< the device certificate */
    HEARTH_LAYOUT_CA_CRT,          /**< the manufacturer CA that issued it */
    HEARTH_LAYOUT_KEYS,            /**< root of trust: storage key or sealed blob, floors */
    HEARTH_LAYOUT_DATA,            /**< the encrypted secure store */
    HEARTH_LAYOUT_BOOT,            /**< boot state directory */
    HEARTH_LAYOUT_BOOT_STATE,      /**< the authenticated A/B boot state */
    HEARTH_LAYOUT_BOOT_LOCK,       /**< lock serialising boot-state writers */
    HEARTH_LAYOUT_BOOT_RECOVERY,   /**< recovery note written by hearth-boot */
    HEARTH_LAYOUT_SLOTS,           /**< the two software slots */
    HEARTH_LAYOUT_SLOT_A,          /**< slot a */
    HEARTH_LAYOUT_SLOT_B,          /**< slot b */
    HEARTH_LAYOUT_EVENTS_LOG,      /**< the security event log */
    HEARTH_LAYOUT_KEYSET,          /**< the device's current update key set */
    HEARTH_LAYOUT_UPDATES,         /**< staging directory for downloads and uploads */
    HEARTH_LAYOUT_TRUST,           /**< read-only update trust anchor (absolute, build option
                                        HEARTH_TRUST_DIR; never inside the writable state) */
    HEARTH_LAYOUT_FACTORY,         /**< factory record: setup-password verifier signed by the
                                        manufacturer CA; a factory reset keeps it (docs/erasure.md) */
    HEARTH_LAYOUT_RESET,           /**< staging directory of a factory reset in progress */
    HEARTH_LAYOUT_OUTBOX,          /**< the service link's outbox (hearth/outbox.h) */
    HEARTH_LAYOUT_COUNT
} hearth_layout_item;

/**
 * The path of @p item for the device whose state is @p state_dir.
 * HEARTH_ERR_INVALID for an unknown item or an empty @p state_dir,
 * HEARTH_ERR_TOO_LARGE if it does not fit in @p cap.
 */
hearth_status hearth_layout_path(const char *state_dir, hearth_layout_item item, char *buf,
                                 size_t cap) HEARTH_MUST_CHECK;

/** The table entry of @p item as written ("keys", "boot/state", or an
 *  absolute path); NULL for an unknown item. For messages and docs. */
const char *hearth_layout_name(hearth_layout_item item);

#ifdef __cplusplus
}
#endif
#endif
