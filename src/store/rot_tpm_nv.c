/*
 * Anti-rollback floors in TPM NV (docs/boot.md, "Floor record"): one
 * ordinary NV index of 16 bytes (u64 security-version floor, u64 key-set
 * floor, big-endian), so deleting or replaying boot/state cannot lower them.
 *
 * - Handle and authValue are derived from the storage root key, so only a
 *   holder of the unsealed key finds, reads or writes it; the handle comes
 *   from 0x01280000..0x012FFFFF, apart from the store's rollback counters.
 * - Not TPMA_NV_ORDERLY: an orderly index reaches NV only at an orderly
 *   shutdown, and a power cut would lose a raised floor. A TPM applies one
 *   NV_Write atomically, so after a power cut the index holds the old or the
 *   new 16 bytes.
 * - Written only forward: hearth_floors_raise() (floors.c) reads, takes the
 *   per-field maximum and writes only if a field grows.
 * - Defined with owner authorisation (empty owner auth, as for the store's
 *   counter) inside the salted session, so the authValue never crosses the
 *   TPM interface in clear; read and written through an HMAC session.
 */
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include "hearth/util.h"
#include "rot_internal.h"

#define FLOOR_NV_BASE 0x01280000u
#define FLOOR_NV_SPAN 0x00080000u
#define FLOOR_NV_SIZE 16
#define FLOOR_NV_ATTRS                                                                     \
    ((TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE |   \
     TPMA_NV_NO_DA)

static hearth_status derive(const uint8_t key[HEARTH_STORE_KEY_LEN], const char *label,
                            uint8_t out[32])
{
    size_t outlen = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, HEARTH_STORE_KEY_LEN,
                  (const unsigned char *)label, strlen(label), out, 32, &outlen) == NULL ||
        outlen != 32)
        return hearth_err(HEARTH_ERR_CRYPTO, "HMAC for the TPM floor index failed");
    return HEARTH_OK;
}

hearth_status floors_tpm_params(const uint8_t key[HEARTH_STORE_KEY_LEN], uint32_t *index,
                                uint8_t auth[32])
{
    uint8_t h[32];
    HEARTH_GUARD(derive(key, "hearth.floors.v1.nv-index", h));
    uint32_t r = hearth_be32_get(h);
    *index = FLOOR_NV_BASE + r % FLOOR_NV_SPAN;
    hearth_memzero(h, sizeof h);
    return derive(key, "hearth.floors.v1.nv-auth", auth);
}

/* TPM-layer response codes (layer 0) vs. TCTI/ESAPI failures (unreachable). */
static bool tpm_layer(TSS2_RC rc) { return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER; }
/* Format-one codes carry handle/session/parameter numbers in bits 6-11. */
/* What a failed command means: a TPM warning (NV rate limit, retry,
 * memory) or a transport failure is "unreachable for now" (HEARTH_ERR_IO);
 * a TPM error about our own index is @p tpm_error. */
static hearth_status classify(TSS2_RC rc, hearth_status tpm_error)
{
    if (!tpm_layer(rc)) return HEARTH_ERR_IO;
    if (!(rc & TPM2_RC_FMT1) && (rc & TPM2_RC_WARN) == TPM2_RC_WARN) return HEARTH_ERR_IO;
    return tpm_error;
}
static bool rc_is(TSS2_RC rc, TSS2_RC code)
{
    if (!tpm_layer(rc)) return false;
    if (rc & TPM2_RC_FMT1) return (rc & 0xBF) == (code & 0xBF);
    return (rc & 0xFFF) == (code & 0xFFF);
}

static hearth_status tr_set_auth(rot_tpm_conn *t, ESYS_TR nv, const uint8_t auth[32])
{
    TPM2B_AUTH a = {.size = 32};
    memcpy(a.buffer, auth, 32);
    TSS2_RC rc = Esys_TR_SetAuth(t->esys, nv, &a);
    hearth_memzero(&a, sizeof a);
    if (rc != TSS2_RC_SUCCESS) return rot_tpm_error(HEARTH_ERR_INTERNAL, "TR_SetAuth", rc);
    return HEARTH_OK;
}

/* The index's ESYS handle, its public area checked against ours. */
static hearth_status open_index(rot_tpm_conn *t, uint32_t index, ESYS_TR *nv)
{
    *nv = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       nv);
    if (rc != TSS2_RC_SUCCESS) {
        *nv = ESYS_TR_NONE;
        if (classify(rc, HEARTH_ERR_NOT_FOUND) == HEARTH_ERR_NOT_FOUND)
            return hearth_err(HEARTH_ERR_NOT_FOUND, "no TPM floor index 0x%08x",
                              (unsigned)index);
        return rot_tpm_error(HEARTH_ERR_IO, "reading the floor index", rc);
    }
    TPM2B_NV_PUBLIC *pub = NULL;
    rc = Esys_NV_ReadPublic(t->esys, *nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return rot_tpm_error(classify(rc, HEARTH_ERR_TAMPERED),
                             "NV_ReadPublic (floor index)", rc);
    /* WRITTEN is set by the TPM; every other bit must be what we define. */
    TPMA_NV attrs = pub->nvPublic.attributes & ~(TPMA_NV)TPMA_NV_WRITTEN;
    bool ok = attrs == FLOOR_NV_ATTRS && pub->nvPublic.dataSize == FLOOR_NV_SIZE &&
              pub->nvPublic.authPolicy.size == 0;
    Esys_Free(pub);
    if (!ok)
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "TPM floor index 0x%08x has other attributes or size than Hearth "
                          "defines (replaced?)", (unsigned)index);
    return HEARTH_OK;
}

hearth_status floors_tpm_read(const char *tcti, uint32_t index, const uint8_t auth[32],
                              hearth_floor_values *out)
{
    memset(out, 0, sizeof *out);
    rot_tpm_conn t;
    HEARTH_GUARD(rot_tpm_connect(&t, tcti, false));
    ESYS_TR nv = ESYS_TR_NONE;
    TPM2B_MAX_NV_BUFFER *data = NULL;
    hearth_status st = open_index(&t, index, &nv);
    if (st == HEARTH_OK) st = tr_set_auth(&t, nv, auth);
    if (st == HEARTH_OK) {
        TSS2_RC rc = Esys_NV_Read(t.esys, nv, nv, t.session, ESYS_TR_NONE, ESYS_TR_NONE,
                                  FLOOR_NV_SIZE, 0, &data);
        if (rc_is(rc, TPM2_RC_NV_UNINITIALIZED))
            st = hearth_err(HEARTH_ERR_NOT_FOUND, "TPM floor index 0x%08x never written",
                            (unsigned)index);
        else if (rc != TSS2_RC_SUCCESS)
            st = rot_tpm_error(classify(rc, HEARTH_ERR_TAMPERED),
                               "NV_Read (floor index; not readable with this device's key)", rc);
        else if (data->size != FLOOR_NV_SIZE)
            st = hearth_err(HEARTH_ERR_TAMPERED, "TPM floor index returned %u bytes",
                            data->size);
    }
    if (st == HEARTH_OK) {
        hearth_cursor c;
        hearth_cursor_init(&c, data->buffer, FLOOR_NV_SIZE);
        if (hearth_cursor_u64(&c, &out->security_version) != HEARTH_OK ||
            hearth_cursor_u64(&c, &out->keyset_version) != HEARTH_OK)
            st = hearth_err(HEARTH_ERR_INTERNAL, "floor index decode");
    }
    Esys_Free(data);
    if (nv != ESYS_TR_NONE) (void)Esys_TR_Close(t.esys, &nv);
    rot_tpm_disconnect(&t);
    if (st != HEARTH_OK) memset(out, 0, sizeof *out);
    return st;
}

/* Define the index inside the salted session (the authValue travels
 * encrypted). An index already there (a define whose first write was cut
 * off) is kept: open_index() checks it is ours. */
static hearth_status define_index(const char *tcti, uint32_t index, const uint8_t auth[32])
{
    rot_tpm_conn t;
    HEARTH_GUARD(rot_tpm_connect(&t, tcti, true));
    TPM2B_AUTH a = {.size = 32};
    memcpy(a.buffer, auth, 32);
    TPM2B_NV_PUBLIC pub = {
        .nvPublic = {
            .nvIndex = index,
            .nameAlg = TPM2_ALG_SHA256,
            .attributes = FLOOR_NV_ATTRS,
            .authPolicy = {.size = 0},
            .dataSize = FLOOR_NV_SIZE,
        },
    };
    hearth_status st = HEARTH_OK;
    ESYS_TR nv = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TRSess_SetAttributes(
        t.esys, t.session, TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION, 0xff);
    if (rc != TSS2_RC_SUCCESS) {
        st = rot_tpm_error(HEARTH_ERR_CRYPTO, "session attributes", rc);
        goto out;
    }
    hearth_fault_point("floors.tpm_define");
    rc = Esys_NV_DefineSpace(t.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, t.session,
                             ESYS_TR_NONE, &a, &pub, &nv);
    if (rc == TSS2_RC_SUCCESS) {
        hearth_seclog(HEARTH_SEV_INFO, "floor_index_defined", "backend", "tpm", NULL);
    } else if (!rc_is(rc, TPM2_RC_NV_DEFINED)) {
        st = rot_tpm_error(classify(rc, HEARTH_ERR_CRYPTO),
                           "NV_DefineSpace (floor index)", rc);
    }
    if (nv != ESYS_TR_NONE) (void)Esys_TR_Close(t.esys, &nv);
out:
    hearth_memzero(&a, sizeof a);
    rot_tpm_disconnect(&t);
    return st;
}

hearth_status floors_tpm_write(const char *tcti, uint32_t index, const uint8_t auth[32],
                               const hearth_floor_values *v, bool define)
{
    if (define) HEARTH_GUARD(define_index(tcti, index, auth));
    rot_tpm_conn t;
    HEARTH_GUARD(rot_tpm_connect(&t, tcti, false));
    ESYS_TR nv = ESYS_TR_NONE;
    hearth_status st = open_index(&t, index, &nv);
    if (st == HEARTH_OK) st = tr_set_auth(&t, nv, auth);
    if (st == HEARTH_OK) {
        TPM2B_MAX_NV_BUFFER data = {.size = FLOOR_NV_SIZE};
        hearth_be64_put(data.buffer, v->security_version);
        hearth_be64_put(data.buffer + 8, v->keyset_version);
        hearth_fault_point("floors.tpm_write");
        TSS2_RC rc = Esys_NV_Write(t.esys, nv, nv, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &data,
                                   0);
        if (rc != TSS2_RC_SUCCESS)
            st = rot_tpm_error(classify(rc, HEARTH_ERR_TAMPERED),
                               "NV_Write (floor index)", rc);
    }
    if (nv != ESYS_TR_NONE) (void)Esys_TR_Close(t.esys, &nv);
    rot_tpm_disconnect(&t);
    return st;
}
