/* TPM 2.0 root of trust (tpm2-tss ESAPI): the storage key is a keyedhash
 * sealed-data object under the owner hierarchy's storage primary key, so
 * the blob on disk (<keydir>/tpm-sealed.bin) is useless without this TPM.
 *
 * Every command that carries the key (Create, Unseal) runs in a salted
 * HMAC session with parameter encryption, so the key never crosses the TPM
 * bus or the TCTI socket in clear. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "hearth/util.h"
#include "rot_internal.h"
#include "tcti_open.h"

#define TPM_BLOB_NAME "tpm-sealed.bin"
#define TPM_BLOB_MAGIC "HRTHTPM1"
#define TPM_BLOB_MAGIC_LEN 8
#define TPM_BLOB_VERSION 2          /**< sealed under the erase-epoch policy */
#define TPM_BLOB_VERSION_NOPOLICY 1 /**< older devices: no policy, still read */
#define TPM_PRIMARY_ECC_P256_SRK 1 /**< TCG-style ECC P-256 storage key template */
#define TPM_BLOB_MAX 4096
/* NV counter indices are picked at random in part of the owner range
 * (TCG handle registry 0x01000000-0x013FFFFF) to avoid clashing with others. */
#define TPM_NV_BASE 0x01300000u
#define TPM_NV_SPAN 0x000FFFFFu
#define TPM_NV_TRIES 8

typedef rot_tpm_conn tpm_conn; /* rot_internal.h: shared with rot_tpm_nv.c */

static hearth_status tpm_err(hearth_status st, const char *what, TSS2_RC rc)
{
    return hearth_err(st, "TPM %s failed: %s (0x%x)", what, Tss2_RC_Decode(rc), (unsigned)rc);
}

static void tpm_close(tpm_conn *t)
{
    if (t->esys != NULL) {
        if (t->session != ESYS_TR_NONE) (void)Esys_FlushContext(t->esys, t->session);
        if (t->primary != ESYS_TR_NONE) (void)Esys_FlushContext(t->esys, t->primary);
        Esys_Finalize(&t->esys);
    }
    rot_tcti_close(&t->tcti);
    t->session = t->primary = ESYS_TR_NONE;
}

/* Create an object from @p tmpl with no outside info and no PCR binding:
 * with @p primary, a primary key under the owner hierarchy (password auth,
 * its handle in *@p primary); without, a child of @p t's storage primary key
 * created through its session (the parts in *@p priv and *@p pub, for the
 * caller to Esys_Free). The creation data, hash and ticket are not used. */
static TSS2_RC tpm_create(tpm_conn *t, const TPM2B_SENSITIVE_CREATE *sens,
                          const TPM2B_PUBLIC *tmpl, ESYS_TR *primary, TPM2B_PRIVATE **priv,
                          TPM2B_PUBLIC **pub)
{
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    TPM2B_CREATION_DATA *cdata = NULL;
    TPM2B_DIGEST *chash = NULL;
    TPMT_TK_CREATION *ticket = NULL;
    TSS2_RC rc;
    if (primary != NULL) {
        TPM2B_PUBLIC *ppub = NULL;
        rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                ESYS_TR_NONE, sens, tmpl, &outside, &pcrs, primary, &ppub,
                                &cdata, &chash, &ticket);
        Esys_Free(ppub);
    } else {
        rc = Esys_Create(t->esys, t->primary, t->session, ESYS_TR_NONE, ESYS_TR_NONE, sens, tmpl,
                         &outside, &pcrs, priv, pub, &cdata, &chash, &ticket);
    }
    Esys_Free(cdata);
    Esys_Free(chash);
    Esys_Free(ticket);
    return rc;
}

/* Connect, recreate the storage primary key (deterministic from the owner
 * seed and the template) and start a salted, parameter-encrypting session
 * bound to it. */
static hearth_status tpm_connect(tpm_conn *t, const hearth_tcti *tcti)
{
    t->tcti = NULL;
    t->esys = NULL;
    t->primary = t->session = ESYS_TR_NONE;
    HEARTH_GUARD(rot_tcti_open(tcti, &t->tcti));
    TSS2_RC rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        tpm_close(t);
        return tpm_err(HEARTH_ERR_IO, "ESAPI initialisation", rc);
    }

    TPM2B_SENSITIVE_CREATE in_sens = {0};
    TPM2B_PUBLIC tmpl = {
        .publicArea = {
            .type = TPM2_ALG_ECC,
            .nameAlg = TPM2_ALG_SHA256,
            .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
            .authPolicy = {.size = 0},
            .parameters.eccDetail = {
                .symmetric = {.algorithm = TPM2_ALG_AES,
                              .keyBits.aes = 128,
                              .mode.aes = TPM2_ALG_CFB},
                /* cppcheck-suppress unknownEvaluationOrder ; designated initialisers
                 * of constants, no side effects (cppcheck misreads the nested .scheme) */
                .scheme = {.scheme = TPM2_ALG_NULL},
                .curveID = TPM2_ECC_NIST_P256,
                .kdf = {.scheme = TPM2_ALG_NULL},
            },
            .unique.ecc = {.x = {.size = 0}, .y = {.size = 0}},
        },
    };
    rc = tpm_create(t, &in_sens, &tmpl, &t->primary, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        t->primary = ESYS_TR_NONE;
        tpm_close(t);
        return tpm_err(HEARTH_ERR_CRYPTO, "CreatePrimary (owner storage key)", rc);
    }

    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    rc = Esys_StartAuthSession(t->esys, t->primary, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                               ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256,
                               &t->session);
    if (rc != TSS2_RC_SUCCESS) {
        t->session = ESYS_TR_NONE;
        tpm_close(t);
        return tpm_err(HEARTH_ERR_CRYPTO, "StartAuthSession", rc);
    }
    rc = Esys_TRSess_SetAttributes(t->esys, t->session,
                                   TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT |
                                       TPMA_SESSION_CONTINUESESSION,
                                   0xff);
    if (rc != TSS2_RC_SUCCESS) {
        tpm_close(t);
        return tpm_err(HEARTH_ERR_CRYPTO, "session attributes", rc);
    }
    return HEARTH_OK;
}

/* Auth value of the NV counter: HMAC-SHA256(storage key, label). Only a
 * holder of the unsealed key can advance or read the counter, so other
 * local TPM users cannot push it forward and make the store look rolled
 * back (a denial of service). */
static hearth_status nv_auth(const uint8_t key[HEARTH_STORE_KEY_LEN], TPM2B_AUTH *auth)
{
    static const unsigned char label[] = "hearth.store.v1.nv-counter-auth";
    size_t outlen = 0;
    auth->size = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, HEARTH_STORE_KEY_LEN, label,
                  sizeof label - 1, auth->buffer, sizeof auth->buffer, &outlen) == NULL ||
        outlen != 32)
        return hearth_err(HEARTH_ERR_CRYPTO, "HMAC for the TPM counter auth failed");
    auth->size = 32;
    return HEARTH_OK;
}

/* Unsalted HMAC session for the counter: the auth value is 256 random bits,
 * so an observed HMAC gives nothing to guess from, and no primary key (slow
 * on real TPMs) is needed on every commit. */
static hearth_status hmac_session(ESYS_CONTEXT *esys, ESYS_TR *session)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
    TSS2_RC rc = Esys_StartAuthSession(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym,
                                       TPM2_ALG_SHA256, session);
    if (rc != TSS2_RC_SUCCESS) {
        *session = ESYS_TR_NONE;
        return tpm_err(HEARTH_ERR_CRYPTO, "StartAuthSession (counter)", rc);
    }
    return HEARTH_OK;
}

static hearth_status nv_read(ESYS_CONTEXT *esys, ESYS_TR nv, ESYS_TR session, uint64_t *value)
{
    TPM2B_MAX_NV_BUFFER *data = NULL;
    TSS2_RC rc = Esys_NV_Read(esys, nv, nv, session, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data);
    if (rc != TSS2_RC_SUCCESS) return tpm_err(HEARTH_ERR_CRYPTO, "NV_Read (rollback counter)", rc);
    hearth_status st = HEARTH_OK;
    if (data->size != 8) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "TPM rollback counter has size %u", data->size);
    } else {
        *value = hearth_be64_get(data->buffer);
    }
    Esys_Free(data);
    return st;
}

/* Open a connection for one counter operation (no primary key needed). */
static hearth_status counter_op(const rot_counter *c, const uint8_t key[HEARTH_STORE_KEY_LEN],
                                bool increment, uint64_t *value)
{
    if (c == NULL || !c->present) return hearth_err(HEARTH_ERR_STATE, "no rollback counter");
    tpm_conn t = {.tcti = NULL, .esys = NULL, .primary = ESYS_TR_NONE, .session = ESYS_TR_NONE};
    /* The connection the root of trust was opened with (canonical form). */
    hearth_tcti conn;
    HEARTH_GUARD(hearth_tcti_parse(c->tcti, &conn));
    HEARTH_GUARD(rot_tcti_open(&conn, &t.tcti));
    TSS2_RC rc = Esys_Initialize(&t.esys, t.tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        tpm_close(&t);
        return tpm_err(HEARTH_ERR_IO, "ESAPI initialisation", rc);
    }
    ESYS_TR nv = ESYS_TR_NONE;
    TPM2B_AUTH auth;
    hearth_status st = nv_auth(key, &auth);
    if (st != HEARTH_OK) goto out;
    rc = Esys_TR_FromTPMPublic(t.esys, c->nv_index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
    if (rc != TSS2_RC_SUCCESS) {
        nv = ESYS_TR_NONE;
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "TPM rollback counter 0x%08x is missing (TPM cleared or replaced?): %s",
                        (unsigned)c->nv_index, Tss2_RC_Decode(rc));
        goto out;
    }
    rc = Esys_TR_SetAuth(t.esys, nv, &auth);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_err(HEARTH_ERR_INTERNAL, "TR_SetAuth", rc);
        goto out;
    }
    HEARTH_GUARD_GOTO(st, hmac_session(t.esys, &t.session), out);
    if (increment) {
        rc = Esys_NV_Increment(t.esys, nv, nv, t.session, ESYS_TR_NONE, ESYS_TR_NONE);
        if (rc != TSS2_RC_SUCCESS) {
            st = tpm_err(HEARTH_ERR_CRYPTO, "NV_Increment (rollback counter)", rc);
            goto out;
        }
    }
    st = nv_read(t.esys, nv, t.session, value);
out:
    hearth_memzero(&auth, sizeof auth);
    if (nv != ESYS_TR_NONE) (void)Esys_TR_Close(t.esys, &nv);
    tpm_close(&t);
    return st;
}

hearth_status rot_counter_read(const rot_counter *c, const uint8_t key[HEARTH_STORE_KEY_LEN],
                               uint64_t *value)
{
    return counter_op(c, key, false, value);
}

hearth_status rot_counter_increment(const rot_counter *c, const uint8_t key[HEARTH_STORE_KEY_LEN],
                                    uint64_t *value)
{
    return counter_op(c, key, true, value);
}

/* Define the counter index (random handle in the owner range) with the
 * derived auth value, and increment it once so it is readable. The auth is
 * sent under the salted session's parameter encryption. */
static hearth_status nv_define(tpm_conn *t, const uint8_t key[HEARTH_STORE_KEY_LEN],
                               uint32_t *index, ESYS_TR *nv)
{
    TPM2B_AUTH auth;
    HEARTH_GUARD(nv_auth(key, &auth));
    TPM2B_NV_PUBLIC pub = {
        .nvPublic = {
            .nameAlg = TPM2_ALG_SHA256,
            .attributes = (TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHREAD |
                          TPMA_NV_AUTHWRITE | TPMA_NV_NO_DA,
            .authPolicy = {.size = 0},
            .dataSize = 8,
        },
    };
    hearth_status st = HEARTH_OK;
    TSS2_RC rc = TPM2_RC_NV_DEFINED;
    *nv = ESYS_TR_NONE;
    /* DefineSpace has no response parameter to encrypt: decrypt only. */
    rc = Esys_TRSess_SetAttributes(t->esys, t->session,
                                   TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION, 0xff);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_err(HEARTH_ERR_CRYPTO, "session attributes", rc);
        goto out;
    }
    rc = TPM2_RC_NV_DEFINED;
    for (int i = 0; i < TPM_NV_TRIES && rc != TSS2_RC_SUCCESS; i++) {
        uint32_t r = 0;
        HEARTH_GUARD_GOTO(st, hearth_random_uniform(TPM_NV_SPAN, &r), out);
        pub.nvPublic.nvIndex = TPM_NV_BASE + r;
        rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, t->session,
                                 ESYS_TR_NONE, &auth, &pub, nv);
        if (rc != TSS2_RC_SUCCESS && (rc & 0xfff) != (TPM2_RC_NV_DEFINED & 0xfff)) break;
    }
    if (rc != TSS2_RC_SUCCESS) {
        *nv = ESYS_TR_NONE;
        st = tpm_err(HEARTH_ERR_CRYPTO, "NV_DefineSpace (rollback counter)", rc);
        goto out;
    }
    *index = pub.nvPublic.nvIndex;
    ESYS_TR sess = ESYS_TR_NONE;
    HEARTH_GUARD_GOTO(st, hmac_session(t->esys, &sess), out);
    rc = Esys_NV_Increment(t->esys, *nv, *nv, sess, ESYS_TR_NONE, ESYS_TR_NONE);
    (void)Esys_FlushContext(t->esys, sess);
    if (rc != TSS2_RC_SUCCESS) st = tpm_err(HEARTH_ERR_CRYPTO, "NV_Increment (first)", rc);
out:
    hearth_memzero(&auth, sizeof auth);
    return st;
}

static void nv_undefine(tpm_conn *t, ESYS_TR nv)
{
    if (nv != ESYS_TR_NONE)
        (void)Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                    ESYS_TR_NONE);
}

/* A parsed tpm-sealed.bin (docs/store-format.md). */
typedef struct {
    uint16_t version;       /**< 1: no policy (older devices); 2: erase-epoch policy */
    uint32_t counter_index; /**< store rollback counter */
    uint32_t epoch_index;   /**< version 2: erase-epoch counter */
    uint64_t epoch_value;   /**< version 2: the epoch the key is sealed for */
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
} tpm_blob;

static hearth_status blob_load(const char *keydir, tpm_blob *b)
{
    memset(b, 0, sizeof *b);
    HEARTH_GUARD(rot_check_dir(keydir));
    char path[PATH_MAX];
    HEARTH_GUARD(hearth_path_join(path, sizeof path, keydir, TPM_BLOB_NAME));
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    hearth_status st = hearth_fs_read_file(path, TPM_BLOB_MAX, &raw, &rawlen);
    if (st == HEARTH_ERR_NOT_FOUND) return hearth_err(st, "no TPM-sealed key at %s", path);
    if (st != HEARTH_OK) return st;

    hearth_cursor c;
    hearth_cursor_init(&c, raw, rawlen);
    const uint8_t *magic = NULL;
    uint16_t tmpl = 0;
    if (hearth_cursor_ptr(&c, TPM_BLOB_MAGIC_LEN, &magic) != HEARTH_OK ||
        memcmp(magic, TPM_BLOB_MAGIC, TPM_BLOB_MAGIC_LEN) != 0 ||
        hearth_cursor_u16(&c, &b->version) != HEARTH_OK ||
        hearth_cursor_u16(&c, &tmpl) != HEARTH_OK ||
        hearth_cursor_u32(&c, &b->counter_index) != HEARTH_OK ||
        (b->version == TPM_BLOB_VERSION &&
         (hearth_cursor_u32(&c, &b->epoch_index) != HEARTH_OK ||
          hearth_cursor_u64(&c, &b->epoch_value) != HEARTH_OK))) {
        free(raw);
        return hearth_err(HEARTH_ERR_TAMPERED, "%s is not a Hearth TPM-sealed key", path);
    }
    if ((b->version != TPM_BLOB_VERSION && b->version != TPM_BLOB_VERSION_NOPOLICY) ||
        tmpl != TPM_PRIMARY_ECC_P256_SRK) {
        free(raw);
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "%s: unsupported version %u / template %u",
                          path, b->version, tmpl);
    }
    if (b->counter_index < TPM_NV_BASE || b->counter_index > TPM_NV_BASE + TPM_NV_SPAN) {
        free(raw);
        return hearth_err(HEARTH_ERR_TAMPERED, "%s names an invalid NV counter index", path);
    }
    size_t off = c.pos;
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(raw, rawlen, &off, &b->pub);
    if (rc == TSS2_RC_SUCCESS) rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(raw, rawlen, &off, &b->priv);
    free(raw);
    if (rc != TSS2_RC_SUCCESS || off != rawlen)
        return hearth_err(HEARTH_ERR_TAMPERED, "%s is truncated or malformed", path);
    if (b->pub.publicArea.type != TPM2_ALG_KEYEDHASH)
        return hearth_err(HEARTH_ERR_TAMPERED, "%s does not hold a sealed-data object", path);
    /* Version 2: only the policy may authorise Unseal (no userWithAuth, or an
     * empty password would bypass it). */
    if (b->version == TPM_BLOB_VERSION &&
        (!rot_epoch_index_valid(b->epoch_index) || b->pub.publicArea.authPolicy.size != 32 ||
         (b->pub.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH) != 0))
        return hearth_err(HEARTH_ERR_TAMPERED, "%s: sealed object without its erase-epoch policy",
                          path);
    return HEARTH_OK;
}

/* Blob: magic, version, primary template id, NV counter index, [v2: erase
 * epoch index, epoch value], then the marshalled TPM2B_PUBLIC and
 * TPM2B_PRIVATE (each carries its size). */
static hearth_status blob_write(const char *keydir, const tpm_blob *b)
{
    uint8_t blob[TPM_BLOB_MAX];
    memcpy(blob, TPM_BLOB_MAGIC, TPM_BLOB_MAGIC_LEN);
    blob[8] = (uint8_t)(b->version >> 8);
    blob[9] = (uint8_t)b->version;
    blob[10] = 0;
    blob[11] = TPM_PRIMARY_ECC_P256_SRK;
    hearth_be32_put(blob + 12, b->counter_index);
    size_t off = 16;
    if (b->version == TPM_BLOB_VERSION) {
        hearth_be32_put(blob + 16, b->epoch_index);
        hearth_be64_put(blob + 20, b->epoch_value);
        off = 28;
    }
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&b->pub, blob, sizeof blob, &off);
    if (rc == TSS2_RC_SUCCESS) rc = Tss2_MU_TPM2B_PRIVATE_Marshal(&b->priv, blob, sizeof blob, &off);
    if (rc != TSS2_RC_SUCCESS) return tpm_err(HEARTH_ERR_INTERNAL, "marshal sealed object", rc);
    return rot_write_new(keydir, TPM_BLOB_NAME, blob, off);
}

static hearth_status rot_out(const uint8_t key[HEARTH_STORE_KEY_LEN], uint32_t counter,
                             const char *tcti_text, hearth_rot **out)
{
    HEARTH_GUARD(rot_new(HEARTH_ROT_TPM, key, out));
    rot_counter *rc_ = &(*out)->counter;
    rc_->present = true;
    rc_->nv_index = counter;
    int n = snprintf(rc_->tcti, sizeof rc_->tcti, "%s", tcti_text);
    if (n < 0 || (size_t)n >= sizeof rc_->tcti) {
        hearth_rot_close(*out);
        *out = NULL;
        return hearth_err(HEARTH_ERR_TOO_LARGE, "TCTI configuration too long");
    }
    return HEARTH_OK;
}

/* Seal a new random storage key in @p keydir. Version 2 (unless @p legacy):
 * bound to the erase epoch, at its current value for a new device (@p cur
 * NULL), at the next value for the successor of the key in @p cur (a factory
 * reset; hearth_rot_tpm_epoch_advance() makes it usable and every earlier
 * key unusable). If @p out, the new root of trust is returned open. */
static hearth_status seal_new(const char *keydir, const char *tcti, const tpm_blob *cur,
                              bool legacy, hearth_rot **out)
{
    HEARTH_GUARD(rot_prepare_dir(keydir));
    char path[PATH_MAX];
    HEARTH_GUARD(hearth_path_join(path, sizeof path, keydir, TPM_BLOB_NAME));
    if (access(path, F_OK) == 0) return hearth_err(HEARTH_ERR_EXISTS, "%s already exists", path);
    hearth_tcti conn;
    HEARTH_GUARD(rot_tcti_resolve(tcti, &conn));

    tpm_conn t;
    HEARTH_GUARD(tpm_connect(&t, &conn));

    TPM2B_SENSITIVE_CREATE in_sens = {0};
    in_sens.sensitive.data.size = HEARTH_STORE_KEY_LEN;
    hearth_status st = hearth_random(in_sens.sensitive.data.buffer, HEARTH_STORE_KEY_LEN);
    TPM2B_PUBLIC tmpl = {
        .publicArea = {
            .type = TPM2_ALG_KEYEDHASH,
            .nameAlg = TPM2_ALG_SHA256,
            /* No sign/decrypt: a pure sealed-data object, only Unseal works.
             * fixedTPM/fixedParent: it can never be duplicated to another TPM.
             * userWithAuth only without a policy (version 1). */
            .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA,
            .authPolicy = {.size = 0},
            .parameters.keyedHashDetail.scheme = {.scheme = TPM2_ALG_NULL},
            .unique.keyedHash = {.size = 0},
        },
    };
    TPM2B_PRIVATE *opriv = NULL;
    TPM2B_PUBLIC *opub = NULL;
    tpm_blob *b = calloc(1, sizeof *b);
    ESYS_TR nv = ESYS_TR_NONE, enew = ESYS_TR_NONE;
    if (st == HEARTH_OK && b == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    if (st != HEARTH_OK) goto out;

    if (legacy) {
        b->version = TPM_BLOB_VERSION_NOPOLICY;
        tmpl.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
    } else {
        b->version = TPM_BLOB_VERSION;
        ESYS_TR e = ESYS_TR_NONE;
        uint64_t v = 0;
        TPM2B_NAME name = {0};
        if (cur != NULL && cur->version == TPM_BLOB_VERSION) {
            b->epoch_index = cur->epoch_index; /* the device's epoch, advanced by this reset */
        } else {
            /* A new device, or the first reset of one sealed without a policy. */
            HEARTH_GUARD_GOTO(st, rot_epoch_define(&t, &b->epoch_index, &enew), out);
            hearth_fault_point("tpm.epoch_defined");
        }
        st = rot_epoch_open(&t, b->epoch_index, &e, &v, &name);
        if (e != ESYS_TR_NONE) (void)Esys_TR_Close(t.esys, &e);
        if (st != HEARTH_OK) goto out;
        b->epoch_value = cur != NULL ? v + 1 : v;
        tmpl.publicArea.authPolicy.size = 32;
        HEARTH_GUARD_GOTO(st, rot_epoch_policy(&name, b->epoch_value,
                                                tmpl.publicArea.authPolicy.buffer), out);
    }

    TSS2_RC rc = tpm_create(&t, &in_sens, &tmpl, NULL, &opriv, &opub);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_err(HEARTH_ERR_CRYPTO, "Create (seal storage key)", rc);
        goto out;
    }
    HEARTH_GUARD_GOTO(st, nv_define(&t, in_sens.sensitive.data.buffer, &b->counter_index, &nv),
                      out);
    b->pub = *opub;
    b->priv = *opriv;
    HEARTH_GUARD_GOTO(st, blob_write(keydir, b), out);
    hearth_seclog(HEARTH_SEV_INFO, "store_key_created", "backend", "tpm", NULL);
    if (out != NULL) st = rot_out(in_sens.sensitive.data.buffer, b->counter_index, conn.text, out);
out:
    if (st != HEARTH_OK) { /* no orphaned indices on failure */
        nv_undefine(&t, nv);
        rot_epoch_undefine(&t, enew);
    } else {
        if (nv != ESYS_TR_NONE) (void)Esys_TR_Close(t.esys, &nv);
        if (enew != ESYS_TR_NONE) (void)Esys_TR_Close(t.esys, &enew);
    }
    hearth_memzero(&in_sens, sizeof in_sens);
    Esys_Free(opriv);
    Esys_Free(opub);
    free(b);
    tpm_close(&t);
    return st;
}

hearth_status hearth_rot_tpm_create(const char *keydir, const char *tcti)
{
    /* Test hook (HEARTH_FAULT_FAIL=tpm.seal_v1, test builds only): seal as
     * the code before the erase epoch did, to test that such devices open. */
    return seal_new(keydir, tcti, NULL, hearth_fault_fail("tpm.seal_v1"), NULL);
}

hearth_status hearth_rot_tpm_create_successor(const char *keydir, const char *cur_keydir,
                                              const char *tcti, hearth_rot **out)
{
    if (out == NULL || cur_keydir == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "no output pointer or current key directory");
    *out = NULL;
    tpm_blob *cur = calloc(1, sizeof *cur);
    if (cur == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = blob_load(cur_keydir, cur);
    if (st == HEARTH_OK) st = seal_new(keydir, tcti, cur, false, out);
    free(cur);
    return st;
}

hearth_status hearth_rot_tpm_epoch_advance(const char *keydir, const char *tcti)
{
    tpm_blob *b = calloc(1, sizeof *b);
    if (b == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = blob_load(keydir, b);
    if (st == HEARTH_OK && b->version == TPM_BLOB_VERSION)
        st = rot_epoch_advance_to(tcti, b->epoch_index, b->epoch_value,
                                  &b->pub.publicArea.authPolicy);
    free(b);
    return st;
}

/* Unseal a version-2 key: a policy session (salted with the primary key,
 * response encrypted) satisfied by PolicyNV(epoch == the blob's value). */
static TSS2_RC unseal_policy(tpm_conn *t, ESYS_TR obj, ESYS_TR epoch, uint64_t value,
                             TPM2B_SENSITIVE_DATA **data)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    ESYS_TR ps = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(t->esys, t->primary, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym,
                                       TPM2_ALG_SHA256, &ps);
    if (rc != TSS2_RC_SUCCESS) return rc;
    rc = Esys_TRSess_SetAttributes(t->esys, ps, TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION,
                                   0xff);
    TPM2B_OPERAND operand = {.size = 8};
    hearth_be64_put(operand.buffer, value);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_PolicyNV(t->esys, epoch, epoch, ps, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, &operand, 0, TPM2_EO_EQ);
    if (rc == TSS2_RC_SUCCESS) rc = Esys_Unseal(t->esys, obj, ps, ESYS_TR_NONE, ESYS_TR_NONE, data);
    (void)Esys_FlushContext(t->esys, ps);
    return rc;
}

hearth_status hearth_rot_tpm_open(const char *keydir, const char *tcti, hearth_rot **out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output pointer");
    *out = NULL;
    if (keydir == NULL) return hearth_err(HEARTH_ERR_INVALID, "no key directory");
    hearth_tcti conn;
    HEARTH_GUARD(rot_tcti_resolve(tcti, &conn));
    tpm_blob *b = calloc(1, sizeof *b);
    if (b == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = blob_load(keydir, b);
    if (st != HEARTH_OK) {
        free(b);
        return st;
    }
    tpm_conn t;
    st = tpm_connect(&t, &conn);
    if (st != HEARTH_OK) {
        free(b);
        return st;
    }
    ESYS_TR obj = ESYS_TR_NONE, epoch = ESYS_TR_NONE;
    TPM2B_SENSITIVE_DATA *data = NULL;
    TSS2_RC rc = Esys_Load(t.esys, t.primary, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &b->priv,
                           &b->pub, &obj);
    if (rc != TSS2_RC_SUCCESS) {
        /* The private part is encrypted and integrity-protected under the
         * primary's seed: another TPM, a cleared owner hierarchy or an
         * edited blob all end here. */
        obj = ESYS_TR_NONE;
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "this TPM cannot load the sealed storage key (different TPM, TPM "
                        "cleared, or %s/%s modified): %s", keydir, TPM_BLOB_NAME,
                        Tss2_RC_Decode(rc));
        hearth_seclog(HEARTH_SEV_ALERT, "store_key_unseal_failed", "backend", "tpm", NULL);
        goto out;
    }
    if (b->version == TPM_BLOB_VERSION) {
        uint64_t v = 0;
        HEARTH_GUARD_GOTO(st, rot_epoch_open(&t, b->epoch_index, &epoch, &v, NULL), out);
        rc = unseal_policy(&t, obj, epoch, b->epoch_value, &data);
        if (rc != TSS2_RC_SUCCESS) {
            /* The TPM's verdict: the epoch moved on (a factory reset retired
             * this key) or the header does not match the sealed object. */
            data = NULL;
            st = hearth_err(HEARTH_ERR_TAMPERED,
                            "the TPM refuses to unseal the storage key: it was retired by a "
                            "factory reset (erase epoch %llu, key sealed for %llu) or %s/%s was "
                            "modified: %s", (unsigned long long)v,
                            (unsigned long long)b->epoch_value, keydir, TPM_BLOB_NAME,
                            Tss2_RC_Decode(rc));
            hearth_seclog(HEARTH_SEV_ALERT, "store_key_unseal_failed", "backend", "tpm",
                          "reason", "erase epoch policy", NULL);
            goto out;
        }
    } else {
        rc = Esys_Unseal(t.esys, obj, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &data);
        if (rc != TSS2_RC_SUCCESS) {
            data = NULL;
            st = tpm_err(HEARTH_ERR_CRYPTO, "Unseal", rc);
            goto out;
        }
    }
    if (data->size != HEARTH_STORE_KEY_LEN) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "unsealed key has length %u, expected %d",
                        data->size, HEARTH_STORE_KEY_LEN);
        goto out;
    }
    st = rot_out(data->buffer, b->counter_index, conn.text, out);
out:
    if (data != NULL) {
        hearth_memzero(data, sizeof *data);
        Esys_Free(data);
    }
    if (epoch != ESYS_TR_NONE) (void)Esys_TR_Close(t.esys, &epoch);
    if (obj != ESYS_TR_NONE) (void)Esys_FlushContext(t.esys, obj);
    tpm_close(&t);
    free(b);
    return st;
}

/* ------------------------------------- shared with rot_tpm_nv.c (floors) */

hearth_status rot_tpm_connect(rot_tpm_conn *t, const char *tcti, bool salted)
{
    /* The connection the root of trust was opened with (validated again). */
    hearth_tcti conn;
    HEARTH_GUARD(rot_tcti_resolve(tcti, &conn));
    if (salted) return tpm_connect(t, &conn);
    t->tcti = NULL;
    t->esys = NULL;
    t->primary = t->session = ESYS_TR_NONE;
    HEARTH_GUARD(rot_tcti_open(&conn, &t->tcti));
    TSS2_RC rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        tpm_close(t);
        return tpm_err(HEARTH_ERR_IO, "ESAPI initialisation", rc);
    }
    hearth_status st = hmac_session(t->esys, &t->session);
    if (st != HEARTH_OK) tpm_close(t);
    return st;
}

void rot_tpm_disconnect(rot_tpm_conn *t) { tpm_close(t); }

hearth_status rot_tpm_error(hearth_status st, const char *what, TSS2_RC rc)
{
    return tpm_err(st, what, rc);
}
