/*
 * Manufacturer CA creation (`hearth ca init`). The CA key signs every device
 * certificate; in a real factory it lives in an HSM (docs/provisioning.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "hearth/util.h"
#include "identity_internal.h"

#define CA_CN_MAX 64

/* Printable ASCII without characters that would need escaping in a DN
 * string or a log line. */
static hearth_status check_cn(const char *cn)
{
    size_t n = strlen(cn);
    if (n == 0 || n > CA_CN_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "CA name must be 1..%d characters", CA_CN_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)cn[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '/' || c == ',' || c == '+' ||
            c == '=' || c == '<' || c == '>' || c == ';')
            return hearth_err(HEARTH_ERR_INVALID,
                              "CA name may contain letters, digits, spaces and . _ - ( ) only");
    }
    return HEARTH_OK;
}

static hearth_status key_pem(EVP_PKEY *key, BIO **out, char **data, size_t *len)
{
    /* Secure-heap BIO so the PEM is cleansed when freed. */
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio == NULL || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_CRYPTO, "encode CA key");
    }
    long n = BIO_get_mem_data(bio, data);
    *len = (size_t)n;
    *out = bio;
    return HEARTH_OK;
}

hearth_status hearth_ca_init(const char *dir, const char *common_name)
{
    if (dir == NULL || dir[0] == '\0') return hearth_err(HEARTH_ERR_INVALID, "no CA directory given");
    const char *cn = common_name != NULL ? common_name : "Hearth Manufacturer CA";
    HEARTH_GUARD(check_cn(cn));

    char kpath[4096], cpath[4096];
    HEARTH_GUARD(hearth_path_join(kpath, sizeof kpath, dir, HEARTH_CA_KEY_FILE));
    HEARTH_GUARD(hearth_path_join(cpath, sizeof cpath, dir, HEARTH_CA_CRT_FILE));

    bool created_dir = false;
    if (mkdir(dir, 0700) == 0) {
        created_dir = true;
    } else if (errno != EEXIST) {
        return hearth_err(HEARTH_ERR_IO, "create %s: %s", dir, strerror(errno));
    } else {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return hearth_err(HEARTH_ERR_INVALID, "%s exists and is not a directory", dir);
        if (access(kpath, F_OK) == 0 || access(cpath, F_OK) == 0)
            return hearth_err(HEARTH_ERR_EXISTS,
                              "%s already holds a CA; refusing to overwrite it", dir);
        /* An existing directory may have been created with a lax umask. */
        if ((sb.st_mode & 077) != 0 && chmod(dir, 0700) != 0)
            return hearth_err(HEARTH_ERR_IO, "chmod 0700 %s: %s", dir, strerror(errno));
    }

    hearth_status st;
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;
    BIO *kbio = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    char *kdata = NULL;
    size_t klen = 0;
    bool wrote_key = false;

    HEARTH_GUARD_GOTO(st, hearth_identity_keygen(&key), fail);
    HEARTH_GUARD_GOTO(st, hearth_identity_make_ca_cert(key, cn, &crt), fail);
    HEARTH_GUARD_GOTO(st, key_pem(key, &kbio, &kdata, &klen), fail);
    HEARTH_GUARD_GOTO(st, hearth_fs_write_atomic(kpath, kdata, klen, 0600), fail);
    wrote_key = true;
    HEARTH_GUARD_GOTO(st, hearth_identity_cert_pem(crt, &pem, &pem_len), fail);
    HEARTH_GUARD_GOTO(st, hearth_fs_write_atomic(cpath, pem, pem_len, 0644), fail);
    st = HEARTH_OK;
    goto done;
fail:
    /* Never leave a key without its certificate (or a half-made CA dir). */
    if (wrote_key) unlink(kpath);
    if (created_dir) rmdir(dir);
done:
    BIO_free(kbio);
    free(pem);
    X509_free(crt);
    EVP_PKEY_free(key);
    return st;
}
