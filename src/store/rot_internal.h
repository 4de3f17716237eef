/* Internal: the root-of-trust object shared by the file and TPM backends. */
#ifndef HEARTH_STORE_ROT_INTERNAL_H
#define HEARTH_STORE_ROT_INTERNAL_H

#include <stdbool.h>

#include "hearth/store.h"

/**
 * Monotonic counter of a root of trust, used to detect rollback of the whole
 * store (TPM backend: an NV counter index). Copied into the store so commits
 * do not depend on the caller keeping the hearth_rot open.
 */
typedef struct {
    bool present;
    uint32_t nv_index;
    char tcti[256]; /**< canonical TPM connection (hearth_tcti.text) */
} rot_counter;

struct hearth_rot {
    hearth_rot_kind kind;
    uint8_t key[HEARTH_STORE_KEY_LEN];
    rot_counter counter;
};

/** Read the counter (authorised with a value derived from @p key). */
hearth_status rot_counter_read(const rot_counter *c, const uint8_t key[HEARTH_STORE_KEY_LEN],
                               uint64_t *value) HEARTH_MUST_CHECK;
/** Increment the counter by one and return the new value. */
hearth_status rot_counter_increment(const rot_counter *c, const uint8_t key[HEARTH_STORE_KEY_LEN],
                                    uint64_t *value) HEARTH_MUST_CHECK;

/** Allocate a root of trust holding a copy of @p key. */
hearth_status rot_new(hearth_rot_kind kind, const uint8_t key[HEARTH_STORE_KEY_LEN],
                      hearth_rot **out) HEARTH_MUST_CHECK;

/**
 * Check that @p dir is a directory owned by us and not writable by group or
 * others (someone who can write it can swap the key or sealed blob).
 */
hearth_status rot_check_dir(const char *dir) HEARTH_MUST_CHECK;

/**
 * Create @p name in @p dir with @p data, mode 0600, durably and without ever
 * replacing an existing file (write temp, fsync, link(2), dir fsync):
 * HEARTH_ERR_EXISTS if it is already there.
 */
hearth_status rot_write_new(const char *dir, const char *name, const void *data,
                            size_t len) HEARTH_MUST_CHECK;

/** Make @p dir (0700) if needed and verify it with rot_check_dir(). */
hearth_status rot_prepare_dir(const char *dir) HEARTH_MUST_CHECK;

#endif
