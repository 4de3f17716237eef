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

#ifdef HEARTH_HAVE_TPM
#include <tss2/tss2_esys.h>

/** A TPM connection (rot_tpm.c), shared with rot_tpm_nv.c. */
typedef struct {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR primary; /**< ESYS_TR_NONE for a plain connection */
    ESYS_TR session; /**< salted session (full) or unsalted HMAC session (plain) */
} rot_tpm_conn;

/**
 * Connect to the TPM through @p tcti ("" or NULL: $HEARTH_TPM_TCTI, then the
 * tss2 default). @p salted: also recreate the storage primary key and start
 * a session salted with it (parameter encryption), as for sealing; else an
 * unsalted HMAC session for authValue-authorised NV commands.
 */
hearth_status rot_tpm_connect(rot_tpm_conn *t, const char *tcti, bool salted) HEARTH_MUST_CHECK;
/** Flush and close everything of @p t. */
void rot_tpm_disconnect(rot_tpm_conn *t);
/** Set a hearth error "TPM <what> failed: <decoded rc>" and return @p st. */
hearth_status rot_tpm_error(hearth_status st, const char *what, TSS2_RC rc);

/* Erase epoch (rot_tpm_epoch.c). */
/** Whether @p index is in the erase-epoch handle range. */
bool rot_epoch_index_valid(uint32_t index);
/** Open the epoch counter @p index (public area checked), read its value
 *  and, if @p name, its NV name. */
hearth_status rot_epoch_open(rot_tpm_conn *t, uint32_t index, ESYS_TR *nv, uint64_t *value,
                             TPM2B_NAME *name) HEARTH_MUST_CHECK;
/** Define a new epoch counter at a random free handle and increment it once. */
hearth_status rot_epoch_define(rot_tpm_conn *t, uint32_t *index, ESYS_TR *nv) HEARTH_MUST_CHECK;
/** Undefine an epoch counter this process just defined (failure cleanup). */
void rot_epoch_undefine(rot_tpm_conn *t, ESYS_TR nv);
/** The authPolicy digest of PolicyNV(epoch == @p value) on the index named @p name. */
hearth_status rot_epoch_policy(const TPM2B_NAME *name, uint64_t value,
                               uint8_t out[32]) HEARTH_MUST_CHECK;
/** Bring the epoch @p index to @p target (one increment at most), after
 *  checking @p policy is PolicyNV(index == target). Idempotent. */
hearth_status rot_epoch_advance_to(const char *tcti, uint32_t index, uint64_t target,
                                   const TPM2B_DIGEST *policy) HEARTH_MUST_CHECK;
#endif

/** Floors in TPM NV (rot_tpm_nv.c): handle and auth derived from @p key. */
hearth_status floors_tpm_params(const uint8_t key[HEARTH_STORE_KEY_LEN], uint32_t *index,
                                uint8_t auth[32]) HEARTH_MUST_CHECK;
/** Read the NV floors (see hearth_floors_read() for the statuses). */
hearth_status floors_tpm_read(const char *tcti, uint32_t index, const uint8_t auth[32],
                              hearth_floor_values *out) HEARTH_MUST_CHECK;
/** Write @p v to the NV floors, defining the index first if @p define. */
hearth_status floors_tpm_write(const char *tcti, uint32_t index, const uint8_t auth[32],
                               const hearth_floor_values *v, bool define) HEARTH_MUST_CHECK;

#endif
