/* Signing keys: Ed25519 and ECDSA P-256 through OpenSSL 3 EVP (5.3-7, 5.5-3).
 * Private keys at rest are encrypted PKCS#8 (PBES2: scrypt + AES-256-CBC). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "bundle_internal.h"

/* scrypt cost for key files: N=2^14, r=8, p=1 (16 MiB, OpenSSL's default
 * decoder limit is 32 MiB, so any OpenSSL 3 can read the file back). */
#define KEY_SCRYPT_N 16384
#define KEY_SCRYPT_R 8
#define KEY_SCRYPT_P 1
#define KEY_PASS_MIN 8

const char *hearth_sig_alg_name(int alg)
{
    switch (alg) {
    case HEARTH_SIG_ED25519: return "ed25519";
    case HEARTH_SIG_ECDSA_P256_SHA256: return "ecdsa-p256-sha256";
    default: return "unknown";
    }
}

void hb_key_id_short(const uint8_t id[HEARTH_KEY_ID_LEN], char out[17])
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < 8; i++) {
        out[2 * i] = hx[id[i] >> 4];
        out[2 * i + 1] = hx[id[i] & 15];
    }
    out[16] = '\0';
}

/* Classify an EVP_PKEY; anything but Ed25519 or EC P-256 is unsupported. */
static hearth_status classify(EVP_PKEY *pkey, hearth_sig_alg *alg)
{
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        *alg = HEARTH_SIG_ED25519;
        return HEARTH_OK;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof group, &glen) == 1 &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)) {
            *alg = HEARTH_SIG_ECDSA_P256_SHA256;
            return HEARTH_OK;
        }
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "EC key is not on curve P-256");
    }
    return hearth_err(HEARTH_ERR_UNSUPPORTED, "key type %s is not supported (ed25519, p256)",
                      EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "?");
}

/* Wrap an EVP_PKEY (takes ownership on success). */
static hearth_status wrap(EVP_PKEY *pkey, bool priv, hearth_key **out)
{
    hearth_sig_alg alg;
    HEARTH_GUARD(classify(pkey, &alg));
    uint8_t der[HEARTH_SPKI_MAX];
    int n = i2d_PUBKEY(pkey, NULL);
    if (n <= 0 || (size_t)n > sizeof der)
        return hearth_err(HEARTH_ERR_CRYPTO, "cannot encode public key");
    unsigned char *p = der;
    if (i2d_PUBKEY(pkey, &p) != n) return hearth_err(HEARTH_ERR_CRYPTO, "cannot encode public key");
    hearth_key *k = calloc(1, sizeof *k);
    if (k == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    HEARTH_GUARD(hearth_sha256(der, (size_t)n, k->id));
    k->pkey = pkey;
    k->alg = alg;
    k->priv = priv;
    *out = k;
    return HEARTH_OK;
}

hearth_status hb_key_dup(const hearth_key *k, hearth_key **out)
{
    hearth_key *c = calloc(1, sizeof *c);
    if (c == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    if (EVP_PKEY_up_ref(k->pkey) != 1) {
        free(c);
        return hearth_err(HEARTH_ERR_CRYPTO, "EVP_PKEY_up_ref failed");
    }
    *c = *k;
    *out = c;
    return HEARTH_OK;
}

hearth_status hearth_key_generate(hearth_sig_alg alg, hearth_key **out)
{
    EVP_PKEY *pkey = NULL;
    if (alg == HEARTH_SIG_ED25519)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else if (alg == HEARTH_SIG_ECDSA_P256_SHA256)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "signature algorithm %d not supported", (int)alg);
    if (pkey == NULL) return hearth_err(HEARTH_ERR_CRYPTO, "key generation failed");
    hearth_status st = wrap(pkey, true, out);
    if (st != HEARTH_OK) EVP_PKEY_free(pkey);
    return st;
}

void hearth_key_free(hearth_key *key)
{
    if (key == NULL) return;
    EVP_PKEY_free(key->pkey);
    hearth_memzero(key, sizeof *key);
    free(key);
}

void hearth_keys_free(hearth_key *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) hearth_key_free(keys[i]);
}

hearth_sig_alg hearth_key_alg(const hearth_key *key) { return key->alg; }
const uint8_t *hearth_key_id(const hearth_key *key) { return key->id; }
bool hearth_key_is_private(const hearth_key *key) { return key->priv; }

hearth_status hearth_key_spki(const hearth_key *key, uint8_t *der, size_t cap, size_t *len)
{
    int n = i2d_PUBKEY(key->pkey, NULL);
    if (n <= 0) return hearth_err(HEARTH_ERR_CRYPTO, "cannot encode public key");
    if ((size_t)n > cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "SPKI buffer too small");
    unsigned char *p = der;
    if (i2d_PUBKEY(key->pkey, &p) != n) return hearth_err(HEARTH_ERR_CRYPTO, "cannot encode public key");
    *len = (size_t)n;
    return HEARTH_OK;
}

hearth_status hearth_key_from_spki(const uint8_t *der, size_t len, hearth_key **out)
{
    if (len == 0 || len > HEARTH_SPKI_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "public key of %zu bytes (1..%u allowed)", len,
                          HEARTH_SPKI_MAX);
    const unsigned char *p = der;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)len);
    if (pkey == NULL || p != der + len) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_INVALID, "malformed SubjectPublicKeyInfo");
    }
    hearth_status st = wrap(pkey, false, out);
    if (st != HEARTH_OK) EVP_PKEY_free(pkey);
    return st;
}

/* Create @p path exclusively with @p mode and return a FILE*. */
static hearth_status create_excl(const char *path, mode_t mode, FILE **f)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return hearth_err(HEARTH_ERR_EXISTS, "%s already exists; refusing to overwrite", path);
        return hearth_err(HEARTH_ERR_IO, "create %s: %s", path, strerror(errno));
    }
    /* umask may have narrowed it; never widen beyond @p mode either. */
    if (fchmod(fd, mode) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return hearth_err(HEARTH_ERR_IO, "chmod %s: %s", path, strerror(e));
    }
    *f = fdopen(fd, "w");
    if (*f == NULL) {
        close(fd);
        unlink(path);
        return hearth_err(HEARTH_ERR_IO, "fdopen %s", path);
    }
    return HEARTH_OK;
}

static hearth_status finish_file(FILE *f, const char *path, bool ok)
{
    if (ok && fflush(f) != 0) ok = false;
    if (ok && fsync(fileno(f)) != 0) ok = false;
    if (fclose(f) != 0) ok = false;
    if (!ok) {
        unlink(path);
        return hearth_err(HEARTH_ERR_IO, "writing %s failed", path);
    }
    return HEARTH_OK;
}

hearth_status hearth_key_write_private(const hearth_key *key, const char *path, const char *pass,
                                       size_t passlen)
{
    if (!key->priv) return hearth_err(HEARTH_ERR_STATE, "not a private key");
    if (pass == NULL || passlen < KEY_PASS_MIN)
        return hearth_err(HEARTH_ERR_POLICY, "passphrase must be at least %d bytes", KEY_PASS_MIN);
    if (passlen > 1024) return hearth_err(HEARTH_ERR_TOO_LARGE, "passphrase too long");
    /* Explicit PBES2 with scrypt: the OpenSSL default PBKDF2 iteration count
     * (2048) is weak for an offline attack on a stolen key file. */
    X509_ALGOR *alg = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, 0, NULL, KEY_SCRYPT_N,
                                            KEY_SCRYPT_R, KEY_SCRYPT_P);
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key->pkey);
    X509_SIG *enc = NULL;
    if (alg != NULL && p8 != NULL) enc = PKCS8_set0_pbe(pass, (int)passlen, p8, alg);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (enc == NULL) {
        X509_ALGOR_free(alg);
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_CRYPTO, "cannot encrypt private key");
    }
    FILE *f = NULL;
    hearth_status st = create_excl(path, 0600, &f);
    if (st != HEARTH_OK) {
        X509_SIG_free(enc);
        return st;
    }
    bool ok = PEM_write_PKCS8(f, enc) == 1;
    X509_SIG_free(enc);
    return finish_file(f, path, ok);
}

hearth_status hearth_key_write_public(const hearth_key *key, const char *path)
{
    FILE *f = NULL;
    HEARTH_GUARD(create_excl(path, 0644, &f));
    bool ok = PEM_write_PUBKEY(f, key->pkey) == 1;
    return finish_file(f, path, ok);
}

struct passarg {
    const char *pass;
    size_t len;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const struct passarg *pa = u;
    if (pa->len > (size_t)size) return -1;
    memcpy(buf, pa->pass, pa->len);
    return (int)pa->len;
}

static hearth_status open_pem(const char *path, FILE **f)
{
    *f = fopen(path, "re");
    if (*f == NULL) {
        if (errno == ENOENT) return hearth_err(HEARTH_ERR_NOT_FOUND, "%s does not exist", path);
        return hearth_err(HEARTH_ERR_IO, "open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(*f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024) {
        (void)fclose(*f);
        return hearth_err(HEARTH_ERR_INVALID, "%s is not a key file", path);
    }
    return HEARTH_OK;
}

hearth_status hearth_key_load_private(const char *path, const char *pass, size_t passlen,
                                      hearth_key **out)
{
    FILE *f = NULL;
    HEARTH_GUARD(open_pem(path, &f));
    struct passarg pa = {pass ? pass : "", pass ? passlen : 0};
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, pass_cb, &pa);
    (void)fclose(f);
    if (pkey == NULL) {
        unsigned long e = ERR_peek_last_error();
        ERR_clear_error();
        if (ERR_GET_REASON(e) == EVP_R_BAD_DECRYPT || ERR_GET_LIB(e) == ERR_LIB_EVP ||
            ERR_GET_LIB(e) == ERR_LIB_PKCS12)
            return hearth_err(HEARTH_ERR_AUTH, "cannot decrypt %s: wrong passphrase?", path);
        return hearth_err(HEARTH_ERR_AUTH, "cannot read private key %s (wrong passphrase or not a key)", path);
    }
    hearth_status st = wrap(pkey, true, out);
    if (st != HEARTH_OK) EVP_PKEY_free(pkey);
    return st;
}

hearth_status hearth_key_load_public(const char *path, hearth_key **out)
{
    FILE *f = NULL;
    HEARTH_GUARD(open_pem(path, &f));
    EVP_PKEY *pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    (void)fclose(f);
    if (pkey == NULL) {
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_INVALID, "%s is not a PEM public key", path);
    }
    hearth_status st = wrap(pkey, false, out);
    if (st != HEARTH_OK) EVP_PKEY_free(pkey);
    return st;
}

static const EVP_MD *sig_md(const hearth_key *key)
{
    /* Ed25519 is pure (the hash is part of the scheme): no digest, one-shot. */
    return key->alg == HEARTH_SIG_ED25519 ? NULL : EVP_sha256();
}

hearth_status hearth_key_sign(const hearth_key *key, const uint8_t *msg, size_t len, uint8_t *sig,
                              size_t cap, size_t *siglen)
{
    if (!key->priv) return hearth_err(HEARTH_ERR_STATE, "cannot sign with a public key");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    size_t n = 0;
    hearth_status st = HEARTH_OK;
    /* Ask for the size, check it fits, then sign. */
    bool sized = EVP_DigestSignInit(ctx, NULL, sig_md(key), NULL, key->pkey) == 1 &&
                 EVP_DigestSign(ctx, NULL, &n, msg, len) == 1;
    if (sized && n > cap)
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "signature buffer too small");
    else if (!sized || EVP_DigestSign(ctx, sig, &n, msg, len) != 1)
        st = hearth_err(HEARTH_ERR_CRYPTO, "signing failed");
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (st == HEARTH_OK) *siglen = n;
    return st;
}

hearth_status hearth_key_verify(const hearth_key *key, const uint8_t *msg, size_t len,
                                const uint8_t *sig, size_t siglen)
{
    if (siglen == 0 || siglen > HEARTH_SIG_MAX)
        return hearth_err(HEARTH_ERR_TAMPERED, "signature length %zu out of range", siglen);
    if (key->alg == HEARTH_SIG_ED25519 && siglen != 64)
        return hearth_err(HEARTH_ERR_TAMPERED, "Ed25519 signature must be 64 bytes, not %zu", siglen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    int rc = EVP_DigestVerifyInit(ctx, NULL, sig_md(key), NULL, key->pkey);
    if (rc == 1) rc = EVP_DigestVerify(ctx, sig, siglen, msg, len);
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (rc != 1) return hearth_err(HEARTH_ERR_TAMPERED, "signature does not verify");
    return HEARTH_OK;
}

hearth_status hearth_key_passphrase(const char *pass_file, char *buf, size_t cap, size_t *len)
{
    if (cap < 2) return hearth_err(HEARTH_ERR_TOO_LARGE, "passphrase buffer too small");
    if (pass_file != NULL) {
        uint8_t *data = NULL;
        size_t n = 0;
        HEARTH_GUARD(hearth_fs_read_file(pass_file, 4096, &data, &n));
        size_t l = 0;
        while (l < n && data[l] != '\n' && data[l] != '\r') l++;
        hearth_status st = HEARTH_OK;
        if (l >= cap) st = hearth_err(HEARTH_ERR_TOO_LARGE, "passphrase in %s too long", pass_file);
        else if (l == 0) st = hearth_err(HEARTH_ERR_INVALID, "passphrase file %s is empty", pass_file);
        if (st == HEARTH_OK) {
            memcpy(buf, data, l);
            buf[l] = '\0';
            *len = l;
        }
        hearth_memzero(data, n);
        free(data);
        return st;
    }
    const char *env = getenv("HEARTH_KEY_PASS");
    if (env == NULL || env[0] == '\0')
        return hearth_err(HEARTH_ERR_NOT_FOUND, "no passphrase: use --pass-file FILE or set "
                          "HEARTH_KEY_PASS");
    size_t l = strlen(env);
    if (l >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "HEARTH_KEY_PASS too long");
    memcpy(buf, env, l + 1);
    *len = l;
    return HEARTH_OK;
}
