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

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "hearth/util.h"
#include "rot_internal.h"

#define TPM_BLOB_NAME "tpm-sealed.bin"
#define TPM_BLOB_MAGIC "HRTHTPM1"
#define TPM_BLOB_MAGIC_LEN 8
#define TPM_BLOB_VERSION 1
#define TPM_PRIMARY_ECC_P256_SRK 1 /**< TCG-style ECC P-256 storage key template */
#define TPM_BLOB_MAX 4096

typedef struct {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR primary;
    ESYS_TR session;
} tpm_conn;

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
    if (t->tcti != NULL) Tss2_TctiLdr_Finalize(&t->tcti);
    t->session = t->primary = ESYS_TR_NONE;
}

/* Connect, recreate the storage primary key (deterministic from the owner
 * seed and the template) and start a salted, parameter-encrypting session
 * bound to it. */
static hearth_status tpm_connect(tpm_conn *t, const char *tcti)
{
    t->tcti = NULL;
    t->esys = NULL;
    t->primary = t->session = ESYS_TR_NONE;
    /* An empty string counts as "not given", so callers can pass through an
     * unset configuration option. */
    const char *conf = (tcti != NULL && tcti[0] != '\0') ? tcti : getenv("HEARTH_TPM_TCTI");
    if (conf != NULL && conf[0] == '\0') conf = NULL;

    TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &t->tcti);
    if (rc != TSS2_RC_SUCCESS)
        return hearth_err(HEARTH_ERR_IO, "cannot reach the TPM via TCTI '%s': %s",
                          conf != NULL ? conf : "(default)", Tss2_RC_Decode(rc));
    rc = Esys_Initialize(&t->esys, t->tcti, NULL);
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
                .scheme = {.scheme = TPM2_ALG_NULL},
                .curveID = TPM2_ECC_NIST_P256,
                .kdf = {.scheme = TPM2_ALG_NULL},
            },
            .unique.ecc = {.x = {.size = 0}, .y = {.size = 0}},
        },
    };
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_CREATION_DATA *cdata = NULL;
    TPM2B_DIGEST *chash = NULL;
    TPMT_TK_CREATION *ticket = NULL;
    rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE, &in_sens, &tmpl, &outside, &pcrs, &t->primary, &pub,
                            &cdata, &chash, &ticket);
    Esys_Free(pub);
    Esys_Free(cdata);
    Esys_Free(chash);
    Esys_Free(ticket);
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

hearth_status hearth_rot_tpm_create(const char *keydir, const char *tcti)
{
    HEARTH_GUARD(rot_prepare_dir(keydir));
    char path[PATH_MAX];
    HEARTH_GUARD(hearth_path_join(path, sizeof path, keydir, TPM_BLOB_NAME));
    if (access(path, F_OK) == 0) return hearth_err(HEARTH_ERR_EXISTS, "%s already exists", path);

    tpm_conn t;
    HEARTH_GUARD(tpm_connect(&t, tcti));

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
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    TPM2B_PRIVATE *opriv = NULL;
    TPM2B_PUBLIC *opub = NULL;
    TPM2B_CREATION_DATA *cdata = NULL;
    TPM2B_DIGEST *chash = NULL;
    TPMT_TK_CREATION *ticket = NULL;
    uint8_t blob[TPM_BLOB_MAX];
    size_t off = 0;
    if (st != HEARTH_OK) goto out;

    TSS2_RC rc = Esys_Create(t.esys, t.primary, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &in_sens,
                             &tmpl, &outside, &pcrs, &opriv, &opub, &cdata, &chash, &ticket);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_err(HEARTH_ERR_CRYPTO, "Create (seal storage key)", rc);
        goto out;
    }

    /* Blob: magic, version, primary template id, then the marshalled
     * TPM2B_PUBLIC and TPM2B_PRIVATE (each carries its own size). */
    memcpy(blob, TPM_BLOB_MAGIC, TPM_BLOB_MAGIC_LEN);
    blob[8] = 0;
    blob[9] = TPM_BLOB_VERSION;
    blob[10] = 0;
    blob[11] = TPM_PRIMARY_ECC_P256_SRK;
    off = 12;
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
    hearth_memzero(&in_sens, sizeof in_sens);
    Esys_Free(opriv);
    Esys_Free(opub);
    Esys_Free(cdata);
    Esys_Free(chash);
    Esys_Free(ticket);
    tpm_close(&t);
    return st;
}

hearth_status hearth_rot_tpm_open(const char *keydir, const char *tcti, hearth_rot **out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output pointer");
    *out = NULL;
    if (keydir == NULL) return hearth_err(HEARTH_ERR_INVALID, "no key directory");
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
    if (hearth_cursor_ptr(&c, TPM_BLOB_MAGIC_LEN, &magic) != HEARTH_OK ||
        memcmp(magic, TPM_BLOB_MAGIC, TPM_BLOB_MAGIC_LEN) != 0 ||
        hearth_cursor_u16(&c, &version) != HEARTH_OK ||
        hearth_cursor_u16(&c, &tmpl) != HEARTH_OK) {
        free(raw);
        return hearth_err(HEARTH_ERR_TAMPERED, "%s is not a Hearth TPM-sealed key", path);
    }
    if (version != TPM_BLOB_VERSION || tmpl != TPM_PRIMARY_ECC_P256_SRK) {
        free(raw);
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "%s: unsupported version %u / template %u",
                          path, version, tmpl);
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
    HEARTH_GUARD(tpm_connect(&t, tcti));
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
out:
    if (data != NULL) {
        hearth_memzero(data, sizeof *data);
        Esys_Free(data);
    }
    if (obj != ESYS_TR_NONE) (void)Esys_FlushContext(t.esys, obj);
    tpm_close(&t);
    return st;
}
