/*
 * The TPM erase epoch (docs/store-format.md, "Erase epoch"; docs/erasure.md):
 * one NV counter per device that a factory reset advances. A sealed storage
 * key (blob version 2) carries the authPolicy TPM2_PolicyNV(epoch == e), so
 * once the reset has advanced the counter past e, this TPM refuses to unseal
 * every earlier blob, including copies that survive in remapped flash. An NV
 * counter never goes down, and a counter index defined again starts at least
 * at the largest value any counter of the TPM ever had (TPM 2.0 Part 1,
 * "NV Counters"), so neither waiting nor undefining and redefining it brings
 * e back.
 *
 * Also here: the retirement of the NV indices a reset leaves behind (the old
 * key's store rollback counter and its anti-rollback floor index), listed in
 * the staging directory before the reset's commit point and undefined after
 * it.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include "hearth/util.h"
#include "rot_internal.h"

/* Handles: apart from the store counters (0x013xxxxx) and the floors
 * (0x01280000..0x012FFFFF). */
#define EPOCH_NV_BASE 0x01200000u
#define EPOCH_NV_SPAN 0x00080000u
#define EPOCH_NV_TRIES 8
#define EPOCH_NV_ATTRS                                                                      \
    ((TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_OWNERWRITE | TPMA_NV_AUTHREAD |   \
     TPMA_NV_NO_DA)
/* What the other modules define (rot_tpm.c: store counter; rot_tpm_nv.c:
 * floors), to recognise them before undefining. */
#define COUNTER_NV_ATTRS                                                                    \
    ((TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE |    \
     TPMA_NV_NO_DA)
#define FLOOR_NV_ATTRS                                                                      \
    ((TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE |   \
     TPMA_NV_NO_DA)

#define RETIRE_NAME "retired-nv"
static const uint8_t retire_magic[8] = {'H', 'R', 'T', 'H', 'R', 'T', 'R', '1'};
#define RETIRE_MAX 4

bool rot_epoch_index_valid(uint32_t index)
{
    return index >= EPOCH_NV_BASE && index < EPOCH_NV_BASE + EPOCH_NV_SPAN;
}

/* The public area of @p nv, its attributes (minus WRITTEN) and size. */
static hearth_status nv_public(rot_tpm_conn *t, ESYS_TR nv, TPMA_NV *attrs, uint16_t *size,
                               uint16_t *policy_size, TPM2B_NAME *name)
{
    TPM2B_NV_PUBLIC *pub = NULL;
    TPM2B_NAME *nm = NULL;
    TSS2_RC rc = Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
                                    &nm);
    if (rc != TSS2_RC_SUCCESS) return rot_tpm_error(HEARTH_ERR_IO, "NV_ReadPublic", rc);
    *attrs = pub->nvPublic.attributes & ~(TPMA_NV)TPMA_NV_WRITTEN;
    *size = pub->nvPublic.dataSize;
    *policy_size = pub->nvPublic.authPolicy.size;
    if (name != NULL) *name = *nm;
    Esys_Free(pub);
    Esys_Free(nm);
    return HEARTH_OK;
}

hearth_status rot_epoch_open(rot_tpm_conn *t, uint32_t index, ESYS_TR *nv, uint64_t *value,
                             TPM2B_NAME *name)
{
    *nv = ESYS_TR_NONE;
    if (!rot_epoch_index_valid(index))
        return hearth_err(HEARTH_ERR_TAMPERED, "invalid erase-epoch index 0x%08x",
                          (unsigned)index);
    TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       nv);
    if (rc != TSS2_RC_SUCCESS) {
        *nv = ESYS_TR_NONE;
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "TPM erase-epoch counter 0x%08x is missing (TPM cleared or replaced?): "
                          "%s", (unsigned)index, Tss2_RC_Decode(rc));
    }
    TPMA_NV attrs = 0;
    uint16_t size = 0, psize = 0;
    HEARTH_GUARD(nv_public(t, *nv, &attrs, &size, &psize, name));
    if (attrs != EPOCH_NV_ATTRS || size != 8 || psize != 0)
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "TPM index 0x%08x is not a Hearth erase-epoch counter (replaced?)",
                          (unsigned)index);
    TPM2B_MAX_NV_BUFFER *data = NULL;
    rc = Esys_NV_Read(t->esys, *nv, *nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0,
                      &data);
    if (rc != TSS2_RC_SUCCESS) return rot_tpm_error(HEARTH_ERR_IO, "NV_Read (erase epoch)", rc);
    hearth_status st = HEARTH_OK;
    if (data->size != 8) st = hearth_err(HEARTH_ERR_TAMPERED, "erase epoch has %u bytes", data->size);
    else *value = hearth_be64_get(data->buffer);
    Esys_Free(data);
    return st;
}

hearth_status rot_epoch_define(rot_tpm_conn *t, uint32_t *index, ESYS_TR *nv)
{
    TPM2B_AUTH empty = {.size = 0};
    TPM2B_NV_PUBLIC pub = {
        .nvPublic = {
            .nameAlg = TPM2_ALG_SHA256,
            .attributes = EPOCH_NV_ATTRS,
            .authPolicy = {.size = 0},
            .dataSize = 8,
        },
    };
    *nv = ESYS_TR_NONE;
    TSS2_RC rc = TPM2_RC_NV_DEFINED;
    for (int i = 0; i < EPOCH_NV_TRIES && rc != TSS2_RC_SUCCESS; i++) {
        uint32_t r = 0;
        HEARTH_GUARD(hearth_random_uniform(EPOCH_NV_SPAN, &r));
        pub.nvPublic.nvIndex = EPOCH_NV_BASE + r;
        rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                 ESYS_TR_NONE, &empty, &pub, nv);
        if (rc != TSS2_RC_SUCCESS && (rc & 0xfff) != (TPM2_RC_NV_DEFINED & 0xfff)) break;
    }
    if (rc != TSS2_RC_SUCCESS) {
        *nv = ESYS_TR_NONE;
        return rot_tpm_error(HEARTH_ERR_CRYPTO, "NV_DefineSpace (erase epoch)", rc);
    }
    *index = pub.nvPublic.nvIndex;
    /* A counter is readable once incremented. */
    rc = Esys_NV_Increment(t->esys, ESYS_TR_RH_OWNER, *nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS)
        return rot_tpm_error(HEARTH_ERR_CRYPTO, "NV_Increment (erase epoch, first)", rc);
    return HEARTH_OK;
}

void rot_epoch_undefine(rot_tpm_conn *t, ESYS_TR nv)
{
    if (nv != ESYS_TR_NONE)
        (void)Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                    ESYS_TR_NONE);
}

/* TPM 2.0 Part 3, TPM2_PolicyNV, from an empty policy:
 *   args   = SHA-256(operandB || u16 offset || u16 operation)
 *   digest = SHA-256(0^32 || TPM_CC_PolicyNV || args || nvIndex name)
 * with operandB the 8-byte big-endian epoch, offset 0, operation TPM_EO_EQ. */
hearth_status rot_epoch_policy(const TPM2B_NAME *name, uint64_t value, uint8_t out[32])
{
    uint8_t a[12], args[32], cc[4], zero[32];
    hearth_be64_put(a, value);
    a[8] = a[9] = 0;                        /* offset */
    a[10] = (uint8_t)(TPM2_EO_EQ >> 8);
    a[11] = (uint8_t)TPM2_EO_EQ;
    hearth_be32_put(cc, TPM2_CC_PolicyNV);
    memset(zero, 0, sizeof zero);
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_Digest(a, sizeof a, args, &n, EVP_sha256(), NULL) == 1 &&
              EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, zero, sizeof zero) == 1 &&
              EVP_DigestUpdate(ctx, cc, sizeof cc) == 1 &&
              EVP_DigestUpdate(ctx, args, sizeof args) == 1 &&
              EVP_DigestUpdate(ctx, name->name, name->size) == 1 &&
              EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) return hearth_err(HEARTH_ERR_CRYPTO, "SHA-256 of the sealing policy failed");
    return HEARTH_OK;
}

hearth_status rot_epoch_advance_to(const char *tcti, uint32_t index, uint64_t target,
                                   const TPM2B_DIGEST *policy)
{
    rot_tpm_conn t;
    HEARTH_GUARD(rot_tpm_connect(&t, tcti, false));
    ESYS_TR nv = ESYS_TR_NONE;
    uint64_t v = 0;
    TPM2B_NAME name = {0};
    uint8_t want[32];
    hearth_status st = rot_epoch_open(&t, index, &nv, &v, &name);
    if (st != HEARTH_OK) goto out;
    /* The blob's header names index and value; its sealed object's policy
     * must be exactly PolicyNV(index == target), or this is not the key
     * the header claims and nothing is advanced. */
    HEARTH_GUARD_GOTO(st, rot_epoch_policy(&name, target, want), out);
    if (policy->size != 32 || CRYPTO_memcmp(policy->buffer, want, 32) != 0) {
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "the new sealed key's policy does not match its erase epoch");
        goto out;
    }
    if (v + 1 == target) {
        TSS2_RC rc = Esys_NV_Increment(t.esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD,
                                       ESYS_TR_NONE, ESYS_TR_NONE);
        if (rc != TSS2_RC_SUCCESS) {
            st = rot_tpm_error(HEARTH_ERR_IO, "NV_Increment (erase epoch)", rc);
            goto out;
        }
        hearth_fault_point("tpm.epoch_advanced");
        (void)Esys_TR_Close(t.esys, &nv);
        HEARTH_GUARD_GOTO(st, rot_epoch_open(&t, index, &nv, &v, NULL), out);
    }
    if (v != target)
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "TPM erase epoch is %llu, the new key is sealed for %llu",
                        (unsigned long long)v, (unsigned long long)target);
out:
    if (nv != ESYS_TR_NONE) (void)Esys_TR_Close(t.esys, &nv);
    rot_tpm_disconnect(&t);
    return st;
}

/* ------------------------------------------------- retiring old indices */

hearth_status hearth_rot_tpm_retire_plan(const hearth_rot *old, const hearth_rot *neu,
                                         const char *keydir)
{
    if (old == NULL || neu == NULL || keydir == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "no root of trust");
    if (old->kind != HEARTH_ROT_TPM) return HEARTH_OK;
    uint8_t rec[8 + 4 + 4 * RETIRE_MAX];
    uint32_t n = 0;
    memcpy(rec, retire_magic, sizeof retire_magic);
    if (old->counter.present && old->counter.nv_index != neu->counter.nv_index)
        hearth_be32_put(rec + 12 + 4 * n++, old->counter.nv_index);
    uint32_t fo = 0, fn = 0;
    uint8_t auth[32];
    hearth_status st = floors_tpm_params(old->key, &fo, auth);
    if (st == HEARTH_OK) st = floors_tpm_params(neu->key, &fn, auth);
    hearth_memzero(auth, sizeof auth);
    HEARTH_GUARD(st);
    if (fo != fn) hearth_be32_put(rec + 12 + 4 * n++, fo);
    hearth_be32_put(rec + 8, n);
    return rot_write_new(keydir, RETIRE_NAME, rec, 12 + 4 * (size_t)n);
}

/* Undefine @p index if it is one of Hearth's store counters or floor
 * indices (range and public area); anything else is left alone. */
static hearth_status retire_one(rot_tpm_conn *t, uint32_t index)
{
    bool counter = index >= 0x01300000u && index <= 0x013FFFFFu;
    bool floors = index >= 0x01280000u && index < 0x01300000u;
    if (!counter && !floors) {
        hearth_seclog(HEARTH_SEV_WARNING, "tpm_retire_skipped", "reason", "outside range", NULL);
        return HEARTH_OK;
    }
    ESYS_TR nv = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       &nv);
    if (rc != TSS2_RC_SUCCESS) return HEARTH_OK; /* already gone */
    TPMA_NV attrs = 0;
    uint16_t size = 0, psize = 0;
    hearth_status st = nv_public(t, nv, &attrs, &size, &psize, NULL);
    if (st != HEARTH_OK) {
        (void)Esys_TR_Close(t->esys, &nv);
        return st;
    }
    bool ours = psize == 0 && (counter ? attrs == COUNTER_NV_ATTRS && size == 8
                                       : attrs == FLOOR_NV_ATTRS && size == 16);
    if (!ours) {
        (void)Esys_TR_Close(t->esys, &nv);
        hearth_seclog(HEARTH_SEV_WARNING, "tpm_retire_skipped", "reason", "not a Hearth index",
                      NULL);
        return HEARTH_OK;
    }
    rc = Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS) {
        (void)Esys_TR_Close(t->esys, &nv);
        return rot_tpm_error(HEARTH_ERR_IO, "NV_UndefineSpace (retired index)", rc);
    }
    hearth_fault_point("tpm.nv_retired");
    return HEARTH_OK;
}

hearth_status hearth_rot_tpm_retire_run(const char *keydir, const char *tcti)
{
    char path[PATH_MAX];
    HEARTH_GUARD(hearth_path_join(path, sizeof path, keydir, RETIRE_NAME));
    uint8_t *raw = NULL;
    size_t len = 0;
    hearth_status st = hearth_fs_read_file(path, 64, &raw, &len);
    if (st == HEARTH_ERR_NOT_FOUND) {
        hearth_err_clear();
        return HEARTH_OK;
    }
    HEARTH_GUARD(st);
    uint32_t n = len >= 12 ? hearth_be32_get(raw + 8) : UINT32_MAX;
    if (len < 12 || memcmp(raw, retire_magic, sizeof retire_magic) != 0 || n > RETIRE_MAX || len != 12 + 4 * n) {
        free(raw);
        return hearth_err(HEARTH_ERR_TAMPERED, "%s is malformed", path);
    }
    rot_tpm_conn t;
    st = rot_tpm_connect(&t, tcti, false);
    if (st == HEARTH_OK) {
        for (uint32_t i = 0; st == HEARTH_OK && i < n; i++)
            st = retire_one(&t, hearth_be32_get(raw + 12 + 4 * i));
        rot_tpm_disconnect(&t);
    }
    free(raw);
    return st;
}
