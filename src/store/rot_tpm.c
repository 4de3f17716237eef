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
#define TPM_BLOB_VERSION 1
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

hearth_status hearth_rot_tpm_create(const char *keydir, const char *tcti)
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
             * fixedTPM/fixedParent: it can never be duplicated to another TPM. */
            .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA,
            .authPolicy = {.size = 0},
            .parameters.keyedHashDetail.scheme = {.scheme = TPM2_ALG_NULL},
            .unique.keyedHash = {.size = 0},
        },
    };
    TPM2B_PRIVATE *opriv = NULL;
    TPM2B_PUBLIC *opub = NULL;
    uint8_t blob[TPM_BLOB_MAX];
    size_t off = 0;
    uint32_t nv_index = 0;
    ESYS_TR nv = ESYS_TR_NONE;
    if (st != HEARTH_OK) goto out;

    TSS2_RC rc = tpm_create(&t, &in_sens, &tmpl, NULL, &opriv, &opub);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_err(HEARTH_ERR_CRYPTO, "Create (seal storage key)", rc);
        goto out;
    }

    st = nv_define(&t, in_sens.sensitive.data.buffer, &nv_index, &nv);
    if (st != HEARTH_OK) goto out;

    /* Blob: magic, version, primary template id, NV counter index, then the
     * marshalled TPM2B_PUBLIC and TPM2B_PRIVATE (each carries its size). */
    memcpy(blob, TPM_BLOB_MAGIC, TPM_BLOB_MAGIC_LEN);
    blob[8] = 0;
    blob[9] = TPM_BLOB_VERSION;
    blob[10] = 0;
    blob[11] = TPM_PRIMARY_ECC_P256_SRK;
    blob[12] = (uint8_t)(nv_index >> 24);
    blob[13] = (uint8_t)(nv_index >> 16);
    blob[14] = (uint8_t)(nv_index >> 8);
    blob[15] = (uint8_t)nv_index;
    off = 16;
    rc = Tss2_MU_TPM2B_PUBLIC_Marshal(opub, blob, sizeof blob, &off);
    if (rc == TSS2_RC_SUCCESS) rc = Tss2_MU_TPM2B_PRIVATE_Marshal(opriv, blob, sizeof blob, &off);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_err(HEARTH_ERR_INTERNAL, "marshal sealed object", rc);
        goto out;
    }
    st = rot_write_new(keydir, TPM_BLOB_NAME, blob, off);
    if (st == HEARTH_OK)
        hearth_seclog(HEARTH_SEV_INFO, "store_key_created", "backend", "tpm", NULL);
out:
    if (st != HEARTH_OK) nv_undefine(&t, nv); /* no orphaned counters on failure */
    else if (nv != ESYS_TR_NONE) (void)Esys_TR_Close(t.esys, &nv);
    hearth_memzero(&in_sens, sizeof in_sens);
    Esys_Free(opriv);
    Esys_Free(opub);
    tpm_close(&t);
    return st;
}

hearth_status hearth_rot_tpm_open(const char *keydir, const char *tcti, hearth_rot **out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output pointer");
    *out = NULL;
    if (keydir == NULL) return hearth_err(HEARTH_ERR_INVALID, "no key directory");
    hearth_tcti conn;
    HEARTH_GUARD(rot_tcti_resolve(tcti, &conn));
    HEARTH_GUARD(rot_check_dir(keydir));
    char path[PATH_MAX];
    HEARTH_GUARD(hearth_path_join(path, sizeof path, keydir, TPM_BLOB_NAME));
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    hearth_status st = hearth_fs_read_file(path, TPM_BLOB_MAX, &raw, &rawlen);
    if (st == HEARTH_ERR_NOT_FOUND) return hearth_err(st, "no TPM-sealed key at %s", path);
    if (st != HEARTH_OK) return st;

    TPM2B_PUBLIC pub = {0};
    TPM2B_PRIVATE priv = {0};
    hearth_cursor c;
    hearth_cursor_init(&c, raw, rawlen);
    const uint8_t *magic = NULL;
    uint16_t version = 0, tmpl = 0;
    uint32_t nv_index = 0;
    if (hearth_cursor_ptr(&c, TPM_BLOB_MAGIC_LEN, &magic) != HEARTH_OK ||
        memcmp(magic, TPM_BLOB_MAGIC, TPM_BLOB_MAGIC_LEN) != 0 ||
        hearth_cursor_u16(&c, &version) != HEARTH_OK ||
        hearth_cursor_u16(&c, &tmpl) != HEARTH_OK ||
        hearth_cursor_u32(&c, &nv_index) != HEARTH_OK) {
        free(raw);
        return hearth_err(HEARTH_ERR_TAMPERED, "%s is not a Hearth TPM-sealed key", path);
    }
    if (version != TPM_BLOB_VERSION || tmpl != TPM_PRIMARY_ECC_P256_SRK) {
        free(raw);
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "%s: unsupported version %u / template %u",
                          path, version, tmpl);
    }
    if (nv_index < TPM_NV_BASE || nv_index > TPM_NV_BASE + TPM_NV_SPAN) {
        free(raw);
        return hearth_err(HEARTH_ERR_TAMPERED, "%s names an invalid NV counter index", path);
    }
    size_t off = c.pos;
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(raw, rawlen, &off, &pub);
    if (rc == TSS2_RC_SUCCESS) rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(raw, rawlen, &off, &priv);
    free(raw);
    if (rc != TSS2_RC_SUCCESS || off != rawlen)
        return hearth_err(HEARTH_ERR_TAMPERED, "%s is truncated or malformed", path);
    if (pub.publicArea.type != TPM2_ALG_KEYEDHASH)
        return hearth_err(HEARTH_ERR_TAMPERED, "%s does not hold a sealed-data object", path);

    tpm_conn t;
    HEARTH_GUARD(tpm_connect(&t, &conn));
    ESYS_TR obj = ESYS_TR_NONE;
    TPM2B_SENSITIVE_DATA *data = NULL;
    rc = Esys_Load(t.esys, t.primary, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &obj);
    if (rc != TSS2_RC_SUCCESS) {
        /* The private part is encrypted and integrity-protected under the
         * primary's seed: another TPM, a cleared owner hierarchy or an
         * edited blob all end here. */
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "this TPM cannot load the sealed storage key (different TPM, TPM "
                        "cleared, or %s modified): %s", path, Tss2_RC_Decode(rc));
        hearth_seclog(HEARTH_SEV_ALERT, "store_key_unseal_failed", "backend", "tpm", NULL);
        goto out;
    }
    rc = Esys_Unseal(t.esys, obj, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &data);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_err(HEARTH_ERR_CRYPTO, "Unseal", rc);
        goto out;
    }
    if (data->size != HEARTH_STORE_KEY_LEN) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "unsealed key has length %u, expected %d",
                        data->size, HEARTH_STORE_KEY_LEN);
        goto out;
    }
    st = rot_new(HEARTH_ROT_TPM, data->buffer, out);
    if (st == HEARTH_OK) {
        rot_counter *rc_ = &(*out)->counter;
        rc_->present = true;
        rc_->nv_index = nv_index;
        int n = snprintf(rc_->tcti, sizeof rc_->tcti, "%s", conn.text);
        if (n < 0 || (size_t)n >= sizeof rc_->tcti) {
            hearth_rot_close(*out);
            *out = NULL;
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "TCTI configuration too long");
        }
    }
out:
    if (data != NULL) {
        hearth_memzero(data, sizeof *data);
        Esys_Free(data);
    }
    if (obj != ESYS_TR_NONE) (void)Esys_FlushContext(t.esys, obj);
    tpm_close(&t);
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
