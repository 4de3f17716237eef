/* Unit tests for src/identity: setup password generation (5.1-1, 5.1-2),
 * label formats (5.3-16), CA + provisioning + open round trip with
 * certificate checks (5.4-4), tamper detection of the identity (5.4-2) and
 * absence of plaintext private keys / hard-coded secrets (5.4-3). Every key,
 * CA and device is generated at test time in a temporary directory. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hearth/auth.h"
#include "hearth/identity.h"
#include "hearth/layout.h"
#include "hearth/util.h"
#include "identity/identity_internal.h"

/* ------------------------------------------------------------- fixtures */

static char tmproot[256];

static int rm_cb(const char *p, const struct stat *sb, int t, struct FTW *f)
{
    (void)sb;
    (void)f;
    (void)t;
    return remove(p);
}

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmproot, sizeof tmproot, "%s/hearth-idtest-XXXXXX", base ? base : "/tmp");
    return mkdtemp(tmproot) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tmproot, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_in(char *buf, size_t cap, const char *name)
{
    assert_int_equal(hearth_path_join(buf, cap, tmproot, name), HEARTH_OK);
}

static void join(char *buf, size_t cap, const char *dir, const char *name)
{
    assert_int_equal(hearth_path_join(buf, cap, dir, name), HEARTH_OK);
}

/* A CA in <tmproot>/<name>, created once per name. */
static const char *make_ca(const char *name)
{
    static char paths[4][512];
    static int n;
    for (int i = 0; i < n; i++)
        if (strcmp(strrchr(paths[i], '/') + 1, name) == 0) return paths[i];
    assert_true(n < 4);
    path_in(paths[n], sizeof paths[n], name);
    assert_int_equal(hearth_ca_init(paths[n], "Test CA"), HEARTH_OK);
    return paths[n++];
}

static void provision(const char *ca, const char *out, const char *serial, hearth_label *label)
{
    hearth_provision_opts o = {.ca_dir = ca, .out_dir = out, .model = "HTH-Therm.2",
                               .serial = serial, .hw_id = "board-rev3", .rot = HEARTH_ROT_FILE};
    hearth_status st = hearth_device_provision(&o, label);
    if (st != HEARTH_OK) fail_msg("provision failed: %s", hearth_err_msg());
}

static bool in_alphabet(char c)
{
    return c != '\0' && strchr(HEARTH_SETUP_PW_ALPHABET, c) != NULL;
}

static void assert_pw_format(const char *pw)
{
    assert_int_equal(strlen(pw), 19);
    for (int i = 0; i < 19; i++) {
        if (i % 5 == 4)
            assert_int_equal(pw[i], '-');
        else
            assert_true(in_alphabet(pw[i]));
    }
}

/* ------------------------------------------------------ setup password */

static void test_5_1_2_setup_password_format_alphabet_length(void **state)
{
    (void)state;
    /* The alphabet itself: 32 symbols, none ambiguous. */
    assert_int_equal(strlen(HEARTH_SETUP_PW_ALPHABET), 32);
    for (const char *bad = "0O1I"; *bad; bad++) assert_false(in_alphabet(*bad));
    for (int i = 0; i < 32; i++)
        assert_ptr_equal(strchr(HEARTH_SETUP_PW_ALPHABET, HEARTH_SETUP_PW_ALPHABET[i]),
                         &HEARTH_SETUP_PW_ALPHABET[i]);
    for (int i = 0; i < 500; i++) {
        char pw[HEARTH_SETUP_PW_MAX];
        assert_int_equal(hearth_setup_password_generate("HTH-ABCDEFGHJKMN", pw), HEARTH_OK);
        assert_pw_format(pw);
        assert_false(hearth_setup_password_is_weak(pw, "HTH-ABCDEFGHJKMN"));
    }
}

static void test_5_1_2_setup_password_entropy_estimate(void **state)
{
    (void)state;
    /* Nominal strength: 16 symbols x log2(32) = 80 bits, >= 60 required. */
    double nominal = HEARTH_SETUP_PW_SYMBOLS * log2(strlen(HEARTH_SETUP_PW_ALPHABET));
    assert_true(nominal >= 60.0);

    /* Empirical: per-position Shannon and min-entropy from 4000 draws. */
    enum { N = 4000 };
    static unsigned counts[HEARTH_SETUP_PW_SYMBOLS][32];
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < N; i++) {
        char pw[HEARTH_SETUP_PW_MAX];
        assert_int_equal(hearth_setup_password_generate(NULL, pw), HEARTH_OK);
        int pos = 0;
        for (int k = 0; pw[k]; k++) {
            if (pw[k] == '-') continue;
            const char *p = strchr(HEARTH_SETUP_PW_ALPHABET, pw[k]);
            assert_non_null(p);
            counts[pos++][p - HEARTH_SETUP_PW_ALPHABET]++;
        }
        assert_int_equal(pos, HEARTH_SETUP_PW_SYMBOLS);
    }
    double shannon = 0, minent = 0;
    for (int pos = 0; pos < HEARTH_SETUP_PW_SYMBOLS; pos++) {
        unsigned maxc = 0;
        for (int s = 0; s < 32; s++) {
            double p = (double)counts[pos][s] / N;
            if (p > 0) shannon -= p * log2(p);
            if (counts[pos][s] > maxc) maxc = counts[pos][s];
        }
        minent += -log2((double)maxc / N);
    }
    print_message("setup password entropy estimate over %d draws: Shannon %.2f bits, "
                  "min-entropy %.2f bits (nominal %.0f)\n", N, shannon, minent, nominal);
    assert_true(shannon >= 79.0); /* estimator bias is ~0.1 bit at N=4000 */
    assert_true(minent >= 60.0);
}

/* Crafted candidates fed through the internal symbol-source hook. */
typedef struct {
    const char *const *cands; /* 16-symbol strings */
    size_t n, next;
} feed;

static hearth_status feed_source(uint8_t sym[HEARTH_SETUP_PW_SYMBOLS], void *arg)
{
    feed *f = arg;
    const char *c = f->cands[f->next < f->n ? f->next : f->n - 1];
    f->next++;
    for (int i = 0; i < HEARTH_SETUP_PW_SYMBOLS; i++)
        sym[i] = (uint8_t)(strchr(HEARTH_SETUP_PW_ALPHABET, c[i]) - HEARTH_SETUP_PW_ALPHABET);
    return HEARTH_OK;
}

static void test_5_1_2_weak_candidates_are_redrawn(void **state)
{
    (void)state;
    /* Precondition from the auth blocklist used below. */
    assert_true(hearth_pw_blocklisted("changeme", 8));
    static const char *const cands[] = {
        "2222222222222222", /* one symbol */
        "7KQ9MMMMX4RT2WZP", /* run of four */
        "23456789ABCDEFGH", /* alphabet sequence */
        "VQ7KZYXW3RTMPN9A", /* descending run ZYXW */
        "ABABABABABABABAB", /* low variety */
        "Q7KM4XR9Q7KMW2TZ", /* repeated group */
        "CHANGEMEX4R9W2TZ", /* blocklisted word inside */
        "Q9ZK7R5TJMNPWE4X", /* shares "7R5T" with the serial below */
        "X7K9QW4RMZ2TPV8N", /* good */
    };
    feed f = {cands, sizeof cands / sizeof cands[0], 0};
    hearth_identity_test_set_pw_source(feed_source, &f);
    char pw[HEARTH_SETUP_PW_MAX];
    hearth_status st = hearth_setup_password_generate("SN-7R5T-0001", pw);
    hearth_identity_test_set_pw_source(NULL, NULL);
    assert_int_equal(st, HEARTH_OK);
    assert_string_equal(pw, "X7K9-QW4R-MZ2T-PV8N");
    assert_int_equal(hearth_identity_test_last_draws(), 9);

    /* Each weak candidate is weak on its own, for the reason intended. */
    for (size_t i = 0; i + 1 < f.n; i++)
        assert_true(hearth_setup_password_is_weak(cands[i], "SN-7R5T-0001"));
    assert_false(hearth_setup_password_is_weak("Q9ZK-7R5T-JMNP-WE4X", "SN-0001"));
    assert_false(hearth_setup_password_is_weak("X7K9-QW4R-MZ2T-PV8N", NULL));
    /* Whole-serial containment, dashes and case ignored. */
    assert_true(hearth_setup_password_is_weak("Q9ZK-HTH4-KP7R-WE4X", "hth-4kp7"));
    /* Too short / not the format. */
    assert_true(hearth_setup_password_is_weak("X7K9-QW4R", NULL));

    /* A source that only yields weak candidates ends in an error, and the
     * output holds no candidate. */
    static const char *const bad[] = {"2222222222222222"};
    feed g = {bad, 1, 0};
    hearth_identity_test_set_pw_source(feed_source, &g);
    memset(pw, 'x', sizeof pw);
    st = hearth_setup_password_generate(NULL, pw);
    hearth_identity_test_set_pw_source(NULL, NULL);
    assert_int_equal(st, HEARTH_ERR_INTERNAL);
    assert_int_equal(g.next, HEARTH_SETUP_PW_MAX_DRAWS);
    for (size_t i = 0; i < sizeof pw; i++) assert_int_equal(pw[i], 0);
}

/* ----------------------------------------------------------------- label */

static void test_5_3_16_label_format_known_answer(void **state)
{
    (void)state;
    hearth_label l;
    memset(&l, 0, sizeof l);
    snprintf(l.model, sizeof l.model, "HTH-Therm.2");
    snprintf(l.serial, sizeof l.serial, "HTH-0A1B2C3D4E5F");
    snprintf(l.setup_password, sizeof l.setup_password, "X7K9-QW4R-MZ2T-PV8N");
    snprintf(l.fingerprint, sizeof l.fingerprint,
             "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    char buf[1024];
    assert_int_equal(hearth_label_format(&l, buf, sizeof buf), HEARTH_OK);
    assert_string_equal(
        buf, "HEARTH DEVICE LABEL v1\n"
             "Model:          HTH-Therm.2\n"
             "Serial:         HTH-0A1B2C3D4E5F\n"
             "Setup password: X7K9-QW4R-MZ2T-PV8N\n"
             "Certificate:    sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    assert_int_equal(hearth_label_qr_payload(&l, buf, sizeof buf), HEARTH_OK);
    assert_string_equal(buf, "HEARTH1:M=HTH-Therm.2;S=HTH-0A1B2C3D4E5F;P=X7K9-QW4R-MZ2T-PV8N;"
                             "F=sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    assert_int_equal(hearth_label_json(&l, buf, sizeof buf), HEARTH_OK);
    assert_string_equal(buf, "{\"format\":\"hearth-label-1\",\"model\":\"HTH-Therm.2\","
                             "\"serial\":\"HTH-0A1B2C3D4E5F\",\"setup_password\":"
                             "\"X7K9-QW4R-MZ2T-PV8N\",\"fingerprint\":\"sha256:"
                             "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}\n");
    /* Too small a buffer fails and leaves no partial label behind. */
    assert_int_equal(hearth_label_format(&l, buf, 40), HEARTH_ERR_TOO_LARGE);
    for (int i = 0; i < 40; i++) assert_int_equal(buf[i], 0);
    /* Fields that could inject lines / separators / JSON are refused. */
    snprintf(l.model, sizeof l.model, "evil\nSerial: x");
    assert_int_equal(hearth_label_format(&l, buf, sizeof buf), HEARTH_ERR_INVALID);
    snprintf(l.model, sizeof l.model, "a\";\"b");
    assert_int_equal(hearth_label_json(&l, buf, sizeof buf), HEARTH_ERR_INVALID);
}

/* ------------------------------------------------ CA / provision / open */

static void test_5_4_4_ca_init_modes_and_refuses_existing(void **state)
{
    (void)state;
    const char *ca = make_ca("ca-modes");
    char p[512];
    struct stat sb;
    assert_int_equal(stat(ca, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    path_in(p, sizeof p, "ca-modes/ca.key");
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    uint8_t *before = NULL;
    size_t blen = 0;
    assert_int_equal(hearth_fs_read_file(p, 16384, &before, &blen), HEARTH_OK);
    /* Re-init refuses and keeps the key. */
    assert_int_equal(hearth_ca_init(ca, "Other"), HEARTH_ERR_EXISTS);
    uint8_t *after = NULL;
    size_t alen = 0;
    assert_int_equal(hearth_fs_read_file(p, 16384, &after, &alen), HEARTH_OK);
    assert_int_equal(alen, blen);
    assert_memory_equal(after, before, blen);
    free(before);
    free(after);

    /* CA certificate fields. */
    X509 *crt = NULL;
    path_in(p, sizeof p, "ca-modes/ca.crt");
    assert_int_equal(hearth_identity_load_cert(p, &crt), HEARTH_OK);
    assert_int_equal(X509_check_ca(crt), 1);
    uint32_t ku = X509_get_key_usage(crt);
    assert_true(ku & KU_KEY_CERT_SIGN);
    assert_true(ku & KU_CRL_SIGN);
    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(crt, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_true(bc->ca);
    assert_int_equal(crit, 1);
    BASIC_CONSTRAINTS_free(bc);
    assert_non_null(X509_get0_subject_key_id(crt));
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(crt),
                                    X509_get0_notAfter(crt)), 1);
    assert_true(days >= 3652 && days <= 3654);
    X509_free(crt);

    /* Bad CA names are refused before anything is created. */
    path_in(p, sizeof p, "ca-badname");
    assert_int_equal(hearth_ca_init(p, "bad/name"), HEARTH_ERR_INVALID);
    assert_int_not_equal(access(p, F_OK), 0);
}

typedef struct {
    const char *pw;
    unsigned records, hits;
} pw_probe;

static hearth_status probe_record(const char *name, const uint8_t *val, size_t len, void *arg)
{
    (void)name;
    pw_probe *p = arg;
    p->records++;
    if (memmem(val, len, p->pw, strlen(p->pw)) != NULL) p->hits++;
    return HEARTH_OK;
}

static void test_5_4_4_provision_open_round_trip(void **state)
{
    (void)state;
    const char *ca = make_ca("ca-main");
    char out[512];
    path_in(out, sizeof out, "dev-roundtrip");
    hearth_label label;
    provision(ca, out, "SN-ROUND-0001", &label);
    assert_string_equal(label.model, "HTH-Therm.2");
    assert_string_equal(label.serial, "SN-ROUND-0001");
    assert_pw_format(label.setup_password);
    assert_int_equal(strncmp(label.fingerprint, "sha256:", 7), 0);
    assert_int_equal(strlen(label.fingerprint), 71);

    hearth_device *d = NULL;
    hearth_status st = hearth_device_open(out, &d);
    if (st != HEARTH_OK) fail_msg("open: %s", hearth_err_msg());
    assert_string_equal(hearth_device_model(d), "HTH-Therm.2");
    assert_string_equal(hearth_device_serial(d), "SN-ROUND-0001");
    assert_string_equal(hearth_device_hw_id(d), "board-rev3");
    assert_string_equal(hearth_device_fingerprint(d), label.fingerprint);
    assert_string_equal(hearth_device_dir(d), out);
    char p[512];
    join(p, sizeof p, out, "device.crt");
    assert_string_equal(hearth_device_cert_path(d), p);
    join(p, sizeof p, out, "ca.crt");
    assert_string_equal(hearth_device_ca_path(d), p);
    assert_non_null(hearth_device_store(d));

    /* The private key from the store loads and belongs to device.crt. */
    uint8_t der[2048];
    size_t len = 0;
    assert_int_equal(hearth_device_private_key_der(d, der, sizeof der, &len), HEARTH_OK);
    const unsigned char *dp = der;
    EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &dp, (long)len);
    assert_non_null(key);
    X509 *crt = NULL;
    assert_int_equal(hearth_identity_load_cert(hearth_device_cert_path(d), &crt), HEARTH_OK);
    assert_int_equal(X509_check_private_key(crt, key), 1);
    EVP_PKEY_free(key);
    X509_free(crt);
    hearth_memzero(der, sizeof der);

    /* Only a hash of the setup password is stored: the plaintext is in no
     * record, yet the label's password is the one that leaves the
     * factory-default state (and a wrong one is refused). */
    pw_probe probe = {label.setup_password, 0, 0};
    assert_int_equal(hearth_store_foreach(hearth_device_store(d), "", probe_record, &probe),
                     HEARTH_OK);
    assert_true(probe.records >= 3);
    assert_int_equal(probe.hits, 0);
    hearth_auth_config cfg;
    hearth_auth_config_default(&cfg);
    cfg.serial = label.serial;
    hearth_auth *a = NULL;
    assert_int_equal(hearth_auth_open(hearth_device_store(d), &cfg, &a), HEARTH_OK);
    assert_false(hearth_auth_initialized(a));
    uint32_t retry = 0;
    char wrong[HEARTH_SETUP_PW_MAX];
    memcpy(wrong, label.setup_password, sizeof wrong);
    wrong[0] = wrong[0] == 'X' ? 'Y' : 'X';
    assert_int_equal(hearth_auth_setup(a, "127.0.0.1", wrong, "admin",
                                       "Tr4vel-Lantern-Quietly-9", &retry),
                     HEARTH_ERR_AUTH);
    hearth_status ast = hearth_auth_setup(a, "127.0.0.1", label.setup_password, "admin",
                                          "Tr4vel-Lantern-Quietly-9", &retry);
    if (ast != HEARTH_OK) fail_msg("setup with the label password: %s", hearth_err_msg());
    assert_true(hearth_auth_initialized(a));
    hearth_auth_close(a);
    hearth_device_close(d);

    /* Layout and modes (identity.h). */
    struct stat sb;
    join(p, sizeof p, out, "keys");
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    join(p, sizeof p, out, "data/store.hst");
    assert_int_equal(stat(p, &sb), 0);
    join(p, sizeof p, out, "device.json");
    assert_int_equal(stat(p, &sb), 0);
    hearth_memzero(&label, sizeof label);
}

static bool has_general_name(GENERAL_NAMES *gens, int type, const char *dns, const uint8_t *ip)
{
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != type) continue;
        if (type == GEN_DNS) {
            const char *v = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
            if ((size_t)ASN1_STRING_length(g->d.dNSName) == strlen(dns) && strcmp(v, dns) == 0)
                return true;
        } else if (type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == 4 &&
                   memcmp(ASN1_STRING_get0_data(g->d.iPAddress), ip, 4) == 0) {
            return true;
        }
    }
    return false;
}

static void name_field(X509_NAME *n, int nid, char *buf, size_t cap)
{
    assert_true(X509_NAME_get_text_by_NID(n, nid, buf, (int)cap) > 0);
}

static void test_5_4_4_device_certificate_fields(void **state)
{
    (void)state;
    const char *ca = make_ca("ca-main");
    char out[512], p[512];
    path_in(out, sizeof out, "dev-fields");
    hearth_label label;
    provision(ca, out, "SN-Fields-42", &label);

    X509 *crt = NULL, *cacrt = NULL;
    join(p, sizeof p, out, "device.crt");
    assert_int_equal(hearth_identity_load_cert(p, &crt), HEARTH_OK);
    join(p, sizeof p, ca, "ca.crt");
    assert_int_equal(hearth_identity_load_cert(p, &cacrt), HEARTH_OK);

    char buf[128];
    X509_NAME *subj = X509_get_subject_name(crt);
    name_field(subj, NID_commonName, buf, sizeof buf);
    assert_string_equal(buf, "SN-Fields-42");
    name_field(subj, NID_serialNumber, buf, sizeof buf);
    assert_string_equal(buf, "SN-Fields-42");
    name_field(subj, NID_organizationalUnitName, buf, sizeof buf);
    assert_string_equal(buf, "HTH-Therm.2");
    /* Issued and signed by the CA. */
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(crt), X509_get_subject_name(cacrt)), 0);
    assert_int_equal(X509_check_issued(cacrt, crt), X509_V_OK);
    assert_int_equal(X509_verify(crt, X509_get0_pubkey(cacrt)), 1);
    assert_int_equal(hearth_identity_verify_cert(cacrt, crt), HEARTH_OK);
    /* Not a CA; EKU server + client. */
    assert_int_equal(X509_check_ca(crt), 0);
    uint32_t xku = X509_get_extended_key_usage(crt);
    assert_true(xku & XKU_SSL_SERVER);
    assert_true(xku & XKU_SSL_CLIENT);
    /* SAN usable by curl against 127.0.0.1 / localhost / mDNS name. */
    GENERAL_NAMES *gens = X509_get_ext_d2i(crt, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    const uint8_t lo[4] = {127, 0, 0, 1};
    assert_true(has_general_name(gens, GEN_DNS, "localhost", NULL));
    assert_true(has_general_name(gens, GEN_IPADD, NULL, lo));
    assert_true(has_general_name(gens, GEN_DNS, "sn-fields-42.local", NULL));
    GENERAL_NAMES_free(gens);
    assert_int_equal(X509_check_host(crt, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(crt, "127.0.0.1", 0), 1);
    /* Random serial: ~128 bits (a leading zero byte occurs 1 in 256). */
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(crt), NULL);
    assert_non_null(bn);
    assert_true(BN_num_bits(bn) > 100 && BN_num_bits(bn) <= 128);
    BN_free(bn);
    /* ECDSA P-256 key; validity ~20 years. */
    EVP_PKEY *pub = X509_get0_pubkey(crt);
    assert_true(EVP_PKEY_is_a(pub, "EC"));
    char group[32];
    size_t gl = 0;
    assert_int_equal(EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                    sizeof group, &gl), 1);
    assert_string_equal(group, "prime256v1");
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(crt),
                                    X509_get0_notAfter(crt)), 1);
    assert_true(days >= 7304 && days <= 7306);
    /* Fingerprint on the label is of this certificate. */
    char fp[HEARTH_FINGERPRINT_MAX];
    assert_int_equal(hearth_identity_cert_fingerprint(crt, fp), HEARTH_OK);
    assert_string_equal(fp, label.fingerprint);
    X509_free(crt);
    X509_free(cacrt);
}

static void test_5_4_4_devices_unique(void **state)
{
    (void)state;
    const char *ca = make_ca("ca-main");
    char a[512], b[512], p[512];
    path_in(a, sizeof a, "dev-uniq-a");
    path_in(b, sizeof b, "dev-uniq-b");
    hearth_label la, lb;
    provision(ca, a, NULL, &la);
    provision(ca, b, NULL, &lb);
    /* Generated serials: HTH- + 12 Crockford symbols. */
    assert_int_equal(strlen(la.serial), 16);
    assert_int_equal(strncmp(la.serial, "HTH-", 4), 0);
    for (int i = 4; i < 16; i++) assert_non_null(strchr(HEARTH_CROCKFORD_ALPHABET, la.serial[i]));
    assert_string_not_equal(la.serial, lb.serial);
    assert_string_not_equal(la.setup_password, lb.setup_password);
    assert_string_not_equal(la.fingerprint, lb.fingerprint);
    X509 *ca_ = NULL, *cb = NULL;
    join(p, sizeof p, a, "device.crt");
    assert_int_equal(hearth_identity_load_cert(p, &ca_), HEARTH_OK);
    join(p, sizeof p, b, "device.crt");
    assert_int_equal(hearth_identity_load_cert(p, &cb), HEARTH_OK);
    assert_int_not_equal(EVP_PKEY_eq(X509_get0_pubkey(ca_), X509_get0_pubkey(cb)), 1);
    X509_free(ca_);
    X509_free(cb);
    /* Storage root keys differ too. */
    uint8_t *ka = NULL, *kb = NULL;
    size_t kal = 0, kbl = 0;
    join(p, sizeof p, a, "keys/storage.key");
    assert_int_equal(hearth_fs_read_file(p, 4096, &ka, &kal), HEARTH_OK);
    join(p, sizeof p, b, "keys/storage.key");
    assert_int_equal(hearth_fs_read_file(p, 4096, &kb, &kbl), HEARTH_OK);
    assert_true(kal != kbl || memcmp(ka, kb, kal) != 0);
    free(ka);
    free(kb);
}

/* ------------------------------------------- secrets are not in plaintext */

typedef struct {
    const uint8_t *needle[4];
    size_t nlen[4];
    size_t n;
    unsigned files;
    unsigned hits;
} scan_ctx;

static scan_ctx *scan;

static int scan_cb(const char *path, const struct stat *sb, int type, struct FTW *f)
{
    (void)f;
    if (type != FTW_F || !S_ISREG(sb->st_mode)) return 0;
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(hearth_fs_read_file(path, 8 * 1024 * 1024, &data, &len), HEARTH_OK);
    scan->files++;
    for (size_t i = 0; i < scan->n; i++)
        if (memmem(data, len, scan->needle[i], scan->nlen[i]) != NULL) {
            print_message("secret %zu found in plaintext in %s\n", i, path);
            scan->hits++;
        }
    free(data);
    return 0;
}

static void test_5_4_3_private_key_not_in_plaintext(void **state)
{
    (void)state;
    const char *ca = make_ca("ca-main");
    char out[512];
    path_in(out, sizeof out, "dev-scan");
    hearth_label label;
    provision(ca, out, "SN-SCAN-1", &label);
    hearth_device *d = NULL;
    assert_int_equal(hearth_device_open(out, &d), HEARTH_OK);
    uint8_t der[2048];
    size_t len = 0;
    assert_int_equal(hearth_device_private_key_der(d, der, sizeof der, &len), HEARTH_OK);
    hearth_device_close(d);
    /* The raw private scalar too, not just its PKCS#8 wrapping. */
    const unsigned char *dp = der;
    EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &dp, (long)len);
    assert_non_null(key);
    BIGNUM *priv = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv), 1);
    uint8_t scalar[32];
    assert_int_equal(BN_bn2binpad(priv, scalar, sizeof scalar), 32);
    BN_clear_free(priv);
    EVP_PKEY_free(key);

    const char *pw = label.setup_password;
    scan_ctx ctx = {.needle = {der, scalar, (const uint8_t *)"PRIVATE KEY", (const uint8_t *)pw},
                    .nlen = {len, sizeof scalar, 11, strlen(pw)},
                    .n = 4};
    scan = &ctx;
    assert_int_equal(nftw(out, scan_cb, 16, FTW_PHYS), 0);
    assert_true(ctx.files >= 5); /* device.json, device.crt, ca.crt, storage.key, store.hst */
    assert_int_equal(ctx.hits, 0);
    /* The scan can find what it looks for: plant the key and rescan. */
    char plant[512];
    join(plant, sizeof plant, out, "planted");
    assert_int_equal(hearth_fs_write_atomic(plant, der, len, 0600), HEARTH_OK);
    ctx.files = 0;
    assert_int_equal(nftw(out, scan_cb, 16, FTW_PHYS), 0);
    assert_int_equal(ctx.hits, 2); /* the DER and the scalar inside it */
    unlink(plant);
    hearth_memzero(der, sizeof der);
    hearth_memzero(scalar, sizeof scalar);
    hearth_memzero(&label, sizeof label);
}

/* ------------------------------------------------------ tamper detection */

static void rewrite(const char *path, const char *from, const char *to)
{
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(hearth_fs_read_file(path, 65536, &data, &len), HEARTH_OK);
    char *hit = strstr((char *)data, from);
    assert_non_null(hit);
    char out[8192];
    int n = snprintf(out, sizeof out, "%.*s%s%s", (int)(hit - (char *)data), (char *)data, to,
                     hit + strlen(from));
    assert_true(n > 0 && (size_t)n < sizeof out);
    assert_int_equal(hearth_fs_write_atomic(path, out, (size_t)n, 0644), HEARTH_OK);
    free(data);
}

static void copy_file(const char *from, const char *to)
{
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(hearth_fs_read_file(from, 65536, &data, &len), HEARTH_OK);
    assert_int_equal(hearth_fs_write_atomic(to, data, len, 0644), HEARTH_OK);
    free(data);
}

static void expect_tampered(const char *dir)
{
    hearth_device *d = NULL;
    hearth_status st = hearth_device_open(dir, &d);
    print_message("open after tampering: %s: %s\n", hearth_status_name(st), hearth_err_msg());
    assert_int_equal(st, HEARTH_ERR_TAMPERED);
    assert_null(d);
}

static void expect_open_ok(const char *dir)
{
    hearth_device *d = NULL;
    hearth_status st = hearth_device_open(dir, &d);
    if (st != HEARTH_OK) fail_msg("open: %s", hearth_err_msg());
    hearth_device_close(d);
}

static void test_5_4_2_edited_device_json_detected(void **state)
{
    (void)state;
    const char *ca = make_ca("ca-main");
    char out[512], js[512], saved[512];
    path_in(out, sizeof out, "dev-edit");
    hearth_label label;
    provision(ca, out, "SN-EDIT-1", &label);
    join(js, sizeof js, out, "device.json");
    path_in(saved, sizeof saved, "device.json.orig");
    copy_file(js, saved);
    expect_open_ok(out);

    rewrite(js, "HTH-Therm.2", "HTH-Therm.3"); /* model changed */
    expect_tampered(out);
    copy_file(saved, js);
    rewrite(js, "board-rev3", "board-rev4"); /* hardware id changed */
    expect_tampered(out);
    copy_file(saved, js);
    rewrite(js, "\"file\"", "\"file\" "); /* even whitespace */
    expect_tampered(out);
    copy_file(saved, js);
    rewrite(js, "\"SN-EDIT-1\"", "\"SN-EDIT-2\""); /* identity swap */
    expect_tampered(out);
    copy_file(saved, js);
    rewrite(js, "{", "{\"x\":1,"); /* unknown field */
    expect_tampered(out);
    copy_file(saved, js);
    assert_int_equal(hearth_fs_write_atomic(js, "{", 1, 0644), HEARTH_OK); /* garbage */
    expect_tampered(out);
    copy_file(saved, js);
    expect_open_ok(out); /* restored: fine again */
}

static void test_5_13_1_device_json_strict_parse(void **state)
{
    (void)state;
    const char *fp = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char good[1024];
    snprintf(good, sizeof good,
             "{\"format\":1,\"model\":\"M\",\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"file\","
             "\"certificate\":\"%s\",\"ca\":\"%s\"}",
             fp, fp);
    hearth_device_info info;
    assert_int_equal(hearth_identity_info_decode(good, strlen(good), &info), HEARTH_OK);
    assert_string_equal(info.serial, "S1");
    assert_int_equal(info.rot, HEARTH_ROT_FILE);
    /* Encode / decode round trip is exact. */
    char *enc = NULL;
    size_t elen = 0;
    assert_int_equal(hearth_identity_info_encode(&info, &enc, &elen), HEARTH_OK);
    hearth_device_info back;
    assert_int_equal(hearth_identity_info_decode(enc, elen, &back), HEARTH_OK);
    assert_memory_equal(&back, &info, sizeof info);
    free(enc);

    const char *bad[] = {
        "[]",
        "{\"format\":1}",
        "{\"format\":2,\"model\":\"M\",\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"file\","
        "\"certificate\":\"FP\",\"ca\":\"FP\"}",
        "{\"format\":1,\"model\":5,\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"file\","
        "\"certificate\":\"FP\",\"ca\":\"FP\"}",
        "{\"format\":1,\"model\":\"M\",\"model\":\"M\",\"serial\":\"S1\",\"hw_id\":\"H\","
        "\"rot\":\"file\",\"certificate\":\"FP\",\"ca\":\"FP\"}",
        "{\"format\":1,\"model\":\"M\",\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"file\","
        "\"certificate\":\"FP\",\"ca\":\"FP\",\"extra\":true}",
        "{\"format\":1,\"model\":\"M\",\"serial\":\"S 1\",\"hw_id\":\"H\",\"rot\":\"file\","
        "\"certificate\":\"FP\",\"ca\":\"FP\"}",
        "{\"format\":1,\"model\":\"M\",\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"hsm\","
        "\"certificate\":\"FP\",\"ca\":\"FP\"}",
        "{\"format\":1,\"model\":\"M\",\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"file\","
        "\"certificate\":\"sha256:00\",\"ca\":\"FP\"}",
        "{\"format\":1,\"model\":\"M\",\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"file\","
        "\"certificate\":\"FP\",\"ca\":\"FP\"} trailing",
        /* Every field is required: no default may switch a check off. */
        "{\"format\":1,\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"file\","
        "\"certificate\":\"FP\",\"ca\":\"FP\"}",
        "{\"format\":1,\"model\":\"M\",\"serial\":\"S1\",\"rot\":\"file\","
        "\"certificate\":\"FP\",\"ca\":\"FP\"}",
        "{\"format\":1,\"model\":\"M\",\"serial\":\"S1\",\"hw_id\":\"H\","
        "\"certificate\":\"FP\",\"ca\":\"FP\"}",
        "{\"format\":1,\"model\":\"\",\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"file\","
        "\"certificate\":\"FP\",\"ca\":\"FP\"}",
        "{\"format\":1,\"model\":\"M\",\"serial\":\"S1\",\"hw_id\":\"\",\"rot\":\"file\","
        "\"certificate\":\"FP\",\"ca\":\"FP\"}",
        /* The TPM connection is platform configuration, never device.json. */
        "{\"format\":1,\"model\":\"M\",\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"tpm\","
        "\"tpm_tcti\":\"device:/dev/tpmrm0\",\"certificate\":\"FP\",\"ca\":\"FP\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[1024];
        /* Substitute a valid fingerprint for FP so only the intended defect remains. */
        const char *src = bad[i];
        size_t o = 0;
        while (*src && o + 80 < sizeof buf) {
            if (strncmp(src, "FP", 2) == 0) {
                o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", fp);
                src += 2;
            } else {
                buf[o++] = *src++;
            }
        }
        buf[o] = '\0';
        hearth_status st = hearth_identity_info_decode(buf, o, &info);
        if (st == HEARTH_OK) fail_msg("accepted bad device.json #%zu: %s", i, buf);
    }
    /* Embedded NUL and oversize. */
    assert_int_not_equal(hearth_identity_info_decode("{}\0{}", 5, &info), HEARTH_OK);
    static char big[HEARTH_DEV_JSON_MAX + 2];
    memset(big, ' ', sizeof big - 1);
    assert_int_equal(hearth_identity_info_decode(big, sizeof big - 1, &info),
                     HEARTH_ERR_TOO_LARGE);
}

/* F3 of docs/fuzzing.md: cJSON turns the escape \u0000 into a NUL byte in a
 * NUL-terminated string, so "hearth\u0000x" used to be read as "hearth" and
 * a field name "ca\u0000junk" as "ca". device.json must be taken exactly as
 * written or not at all: any escaped NUL, in a value or a name, is refused
 * with a reason, while other escapes and a literal backslash-u text (an
 * escaped backslash) are still parsed as JSON says. */
static void test_5_4_2_escaped_nul_in_device_json_rejected(void **state)
{
    (void)state;
    const char *fp = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
#define SHAPE                                                                              \
    "{\"format\":1,\"model\":\"%s\",\"serial\":\"S1\",\"hw_id\":\"H\",\"rot\":\"file\"," \
    "\"certificate\":\"%s\",\"%s\":\"%s\"}"
    char buf[1024];
    hearth_device_info info;
    const struct {
        const char *model, *ca_key;
    } bad[] = {
        {"hearth\\u0000x", "ca"},      /* the reproducer: value cut */
        {"hearth\\u0000", "ca"},       /* NUL at the end */
        {"\\u0000hearth", "ca"},       /* NUL first: empty value */
        {"hearth", "ca\\u0000junk"},   /* field name cut to a known one */
        {"hearth", "ca\\u0000"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = snprintf(buf, sizeof buf, SHAPE, bad[i].model, fp, bad[i].ca_key, fp);
        assert_true(n > 0 && (size_t)n < sizeof buf);
        hearth_err_clear();
        hearth_status st = hearth_identity_info_decode(buf, (size_t)n, &info);
        if (st == HEARTH_OK) fail_msg("accepted device.json with an escaped NUL #%zu: %s", i, buf);
        assert_int_equal(st, HEARTH_ERR_INVALID);
        assert_non_null(strstr(hearth_err_msg(), "NUL"));
        /* Nothing of the refused file is handed out. */
        assert_int_equal(info.model[0], '\0');
    }
    /* Other escapes still decode: \u0041 is "A". */
    int n = snprintf(buf, sizeof buf, SHAPE, "\\u0041BC", fp, "ca", fp);
    assert_int_equal(hearth_identity_info_decode(buf, (size_t)n, &info), HEARTH_OK);
    assert_string_equal(info.model, "ABC");
    /* An escaped backslash then "u0000" is no NUL: refused for its charset. */
    n = snprintf(buf, sizeof buf, SHAPE, "M\\\\u0000", fp, "ca", fp);
    hearth_err_clear();
    assert_int_equal(hearth_identity_info_decode(buf, (size_t)n, &info), HEARTH_ERR_INVALID);
    assert_null(strstr(hearth_err_msg(), "NUL"));
    assert_non_null(strstr(hearth_err_msg(), "model"));
#undef SHAPE
}

static void test_5_4_2_cert_from_other_ca_rejected(void **state)
{
    (void)state;
    const char *ca = make_ca("ca-main");
    const char *rogue = make_ca("ca-rogue");
    char out[512], p[512], q[512];
    path_in(out, sizeof out, "dev-rogue");
    hearth_label label;
    provision(ca, out, "SN-ROGUE-1", &label);

    /* Chain check on its own: right CA passes, another CA fails. */
    X509 *dev = NULL, *good = NULL, *bad = NULL;
    join(p, sizeof p, out, "device.crt");
    assert_int_equal(hearth_identity_load_cert(p, &dev), HEARTH_OK);
    join(p, sizeof p, ca, "ca.crt");
    assert_int_equal(hearth_identity_load_cert(p, &good), HEARTH_OK);
    join(p, sizeof p, rogue, "ca.crt");
    assert_int_equal(hearth_identity_load_cert(p, &bad), HEARTH_OK);
    assert_int_equal(hearth_identity_verify_cert(good, dev), HEARTH_OK);
    assert_int_equal(hearth_identity_verify_cert(bad, dev), HEARTH_ERR_TAMPERED);
    /* A device certificate is no CA: it cannot vouch for itself. */
    assert_int_equal(hearth_identity_verify_cert(dev, dev), HEARTH_ERR_TAMPERED);

    /* End to end: swap in the rogue CA -> rejected. */
    char ca_in_state[512], saved_ca[512], saved_crt[512], crt_in_state[512];
    join(ca_in_state, sizeof ca_in_state, out, "ca.crt");
    join(crt_in_state, sizeof crt_in_state, out, "device.crt");
    path_in(saved_ca, sizeof saved_ca, "rogue-saved-ca.crt");
    path_in(saved_crt, sizeof saved_crt, "rogue-saved-device.crt");
    copy_file(ca_in_state, saved_ca);
    copy_file(crt_in_state, saved_crt);
    join(q, sizeof q, rogue, "ca.crt");
    copy_file(q, ca_in_state);
    expect_tampered(out);

    /* Rogue CA re-certifies the device's own public key (same subject):
     * chain and key match would pass, the pinned fingerprints do not. */
    EVP_PKEY *rkey = NULL;
    X509 *rcrt = NULL, *forged = NULL;
    assert_int_equal(hearth_identity_load_ca(rogue, &rkey, &rcrt), HEARTH_OK);
    assert_int_equal(hearth_identity_issue_device_cert(rkey, rcrt, X509_get0_pubkey(dev),
                                                       "SN-ROGUE-1", "HTH-Therm.2", &forged),
                     HEARTH_OK);
    char *pem = NULL;
    size_t pl = 0;
    assert_int_equal(hearth_identity_cert_pem(forged, &pem, &pl), HEARTH_OK);
    assert_int_equal(hearth_fs_write_atomic(crt_in_state, pem, pl, 0644), HEARTH_OK);
    assert_int_equal(hearth_identity_verify_cert(rcrt, forged), HEARTH_OK);
    expect_tampered(out);
    free(pem);

    /* A certificate for another key from the right CA: also rejected. */
    EVP_PKEY *gkey = NULL, *other = NULL;
    X509 *gcrt = NULL, *wrongkey = NULL;
    assert_int_equal(hearth_identity_load_ca(ca, &gkey, &gcrt), HEARTH_OK);
    assert_int_equal(hearth_identity_keygen(&other), HEARTH_OK);
    assert_int_equal(hearth_identity_issue_device_cert(gkey, gcrt, other, "SN-ROGUE-1",
                                                       "HTH-Therm.2", &wrongkey),
                     HEARTH_OK);
    copy_file(saved_ca, ca_in_state);
    assert_int_equal(hearth_identity_cert_pem(wrongkey, &pem, &pl), HEARTH_OK);
    assert_int_equal(hearth_fs_write_atomic(crt_in_state, pem, pl, 0644), HEARTH_OK);
    expect_tampered(out);
    free(pem);

    copy_file(saved_crt, crt_in_state);
    expect_open_ok(out);
    X509_free(dev);
    X509_free(good);
    X509_free(bad);
    X509_free(rcrt);
    X509_free(forged);
    X509_free(gcrt);
    X509_free(wrongkey);
    EVP_PKEY_free(rkey);
    EVP_PKEY_free(gkey);
    EVP_PKEY_free(other);
}

/* ------------------------------------------- refusal leaves no trace */

static unsigned count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

/* hearth_device_config_load(), the one reader of device.json for every
 * program: a field is returned only after device.mac proved device.json
 * came from provisioning under this device's root of trust, and the root
 * of trust kind and TPM connection come from the platform configuration,
 * never from the state directory. */
static void expect_config_refused(const char *dir, hearth_status want, const char *needle)
{
    hearth_device_config cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    hearth_rot *rot = (hearth_rot *)&cfg; /* must be reset to NULL */
    hearth_status st = hearth_device_config_load(dir, &cfg, &rot);
    print_message("config load: %s: %s\n", hearth_status_name(st), hearth_err_msg());
    assert_int_equal(st, want);
    assert_null(rot);
    assert_int_equal(cfg.model[0], '\0');
    assert_int_equal(cfg.hw_id[0], '\0');
    if (needle != NULL && strstr(hearth_err_msg(), needle) == NULL)
        fail_msg("reason '%s' does not mention '%s'", hearth_err_msg(), needle);
}

static void test_5_4_1_device_config_authenticated_before_use(void **state)
{
    (void)state;
    const char *ca = make_ca("ca-main");
    char out[512], js[512], mac[512], saved[512], savedmac[512];
    path_in(out, sizeof out, "dev-config");
    hearth_label label;
    provision(ca, out, "SN-CFG-1", &label);
    join(js, sizeof js, out, "device.json");
    join(mac, sizeof mac, out, hearth_layout_name(HEARTH_LAYOUT_DEVICE_MAC));
    path_in(saved, sizeof saved, "device.json.cfg");
    path_in(savedmac, sizeof savedmac, "device.mac.cfg");
    copy_file(js, saved);
    copy_file(mac, savedmac);

    hearth_device_config cfg;
    hearth_rot *rot = NULL;
    assert_int_equal(hearth_device_config_load(out, &cfg, &rot), HEARTH_OK);
    assert_string_equal(cfg.model, "HTH-Therm.2");
    assert_string_equal(cfg.hw_id, "board-rev3");
    assert_string_equal(cfg.serial, "SN-CFG-1");
    assert_int_equal(cfg.rot, HEARTH_ROT_FILE);
    assert_non_null(rot);
    assert_int_equal(hearth_rot_kind_of(rot), HEARTH_ROT_FILE);
    hearth_rot_close(rot);
    assert_int_equal(hearth_device_config_load(out, &cfg, NULL), HEARTH_OK);

    /* An edited field, still valid JSON in the exact schema: MAC mismatch. */
    rewrite(js, "board-rev3", "board-rev4");
    expect_config_refused(out, HEARTH_ERR_TAMPERED, "device.mac");
    copy_file(saved, js);
    /* Removed model: refused by the decoder, never defaulted. */
    rewrite(js, "\"model\":", "\"modelx\":");
    expect_config_refused(out, HEARTH_ERR_TAMPERED, "modelx");
    copy_file(saved, js);
    /* A TPM connection planted in device.json is refused by name. */
    rewrite(js, "{", "{\"tpm_tcti\":\"device:/dev/tpmrm0\",");
    expect_config_refused(out, HEARTH_ERR_TAMPERED, "tpm_tcti");
    copy_file(saved, js);
    /* A device.json that claims the TPM root of trust on a file platform. */
    rewrite(js, "\"file\"", "\"tpm\"");
    expect_config_refused(out, HEARTH_ERR_TAMPERED, "configured for 'file'");
    copy_file(saved, js);
    /* device.mac missing, malformed, or a well-formed MAC of other bytes. */
    assert_int_equal(unlink(mac), 0);
    expect_config_refused(out, HEARTH_ERR_TAMPERED, "missing");
    assert_int_equal(hearth_fs_write_atomic(mac, "zz\n", 3, 0644), HEARTH_OK);
    expect_config_refused(out, HEARTH_ERR_TAMPERED, "malformed");
    char forged[66];
    memset(forged, 'a', 64);
    forged[64] = '\n';
    assert_int_equal(hearth_fs_write_atomic(mac, forged, 65, 0644), HEARTH_OK);
    expect_config_refused(out, HEARTH_ERR_TAMPERED, "does not match");
    copy_file(savedmac, mac);
    /* hearth_device_open goes through the same check. */
    assert_int_equal(unlink(mac), 0);
    expect_tampered(out);
    copy_file(savedmac, mac);

    /* Platform configuration from the environment: a different kind is
     * refused, an invalid value is an error (never a fall back). */
    assert_int_equal(setenv("HEARTH_ROT", "tpm", 1), 0);
    expect_config_refused(out, HEARTH_ERR_TAMPERED, "configured for 'tpm'");
    assert_int_equal(setenv("HEARTH_ROT", "floppy", 1), 0);
    expect_config_refused(out, HEARTH_ERR_INVALID, "HEARTH_ROT");
    assert_int_equal(setenv("HEARTH_ROT", "file", 1), 0);
    assert_int_equal(setenv("HEARTH_TPM_TCTI", "/tmp/evil.so", 1), 0);
    expect_config_refused(out, HEARTH_ERR_INVALID, "HEARTH_TPM_TCTI");
    assert_int_equal(unsetenv("HEARTH_TPM_TCTI"), 0);
    assert_int_equal(unsetenv("HEARTH_ROT"), 0);

    /* Restored: accepted again (the checks above refused the edits, not
     * the device). */
    assert_int_equal(hearth_device_config_load(out, &cfg, NULL), HEARTH_OK);
    expect_open_ok(out);
}

static void test_5_1_1_nonempty_dir_refused_untouched(void **state)
{
    (void)state;
    const char *ca = make_ca("ca-main");
    char out[512], keep[512];
    path_in(out, sizeof out, "dev-nonempty");
    assert_int_equal(mkdir(out, 0755), 0);
    join(keep, sizeof keep, out, "keep.txt");
    assert_int_equal(hearth_fs_write_atomic(keep, "precious\n", 9, 0644), HEARTH_OK);
    hearth_provision_opts o = {.ca_dir = ca, .out_dir = out, .model = "M1",
                               .rot = HEARTH_ROT_FILE};
    hearth_label label;
    assert_int_equal(hearth_device_provision(&o, &label), HEARTH_ERR_EXISTS);
    assert_int_equal(count_entries(out), 1);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(hearth_fs_read_file(keep, 64, &data, &len), HEARTH_OK);
    assert_int_equal(len, 9);
    assert_memory_equal(data, "precious\n", 9);
    free(data);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0755);
    /* The label carries nothing on failure. */
    assert_int_equal(label.setup_password[0], '\0');
}

static void test_5_1_1_failures_leave_nothing(void **state)
{
    (void)state;
    const char *ca = make_ca("ca-main");
    char out[512];
    hearth_label label;

    /* Bad inputs: rejected before anything is created. */
    const char *models[] = {"", "bad model", "m/../x", "0123456789012345678901234567890123"};
    path_in(out, sizeof out, "dev-badinput");
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        hearth_provision_opts o = {.ca_dir = ca, .out_dir = out, .model = models[i],
                                   .rot = HEARTH_ROT_FILE};
        assert_int_equal(hearth_device_provision(&o, &label), HEARTH_ERR_INVALID);
        assert_int_not_equal(access(out, F_OK), 0);
    }
    const char *serials[] = {"", "-lead", "trail-", "sp ace", "semi;colon", "a.b",
                             "012345678901234567890123456789012"};
    for (size_t i = 0; i < sizeof serials / sizeof serials[0]; i++) {
        hearth_provision_opts o = {.ca_dir = ca, .out_dir = out, .model = "M1",
                                   .serial = serials[i], .rot = HEARTH_ROT_FILE};
        assert_int_equal(hearth_device_provision(&o, &label), HEARTH_ERR_INVALID);
        assert_int_not_equal(access(out, F_OK), 0);
    }

    /* Missing CA. */
    char noca[512];
    path_in(noca, sizeof noca, "no-such-ca");
    hearth_provision_opts o = {.ca_dir = noca, .out_dir = out, .model = "M1",
                               .rot = HEARTH_ROT_FILE};
    assert_int_not_equal(hearth_device_provision(&o, &label), HEARTH_OK);
    assert_int_not_equal(access(out, F_OK), 0);

    /* Failure midway (root of trust: a TPM that is not there, after keys/
     * was created): everything is removed again, in a new dir ... */
    o.ca_dir = ca;
    o.rot = HEARTH_ROT_TPM;
    o.tpm_tcti = "swtpm:host=127.0.0.1,port=1";
    assert_int_not_equal(hearth_device_provision(&o, &label), HEARTH_OK);
    print_message("TPM failure: %s\n", hearth_err_msg());
    assert_int_not_equal(access(out, F_OK), 0);
    /* ... and in a pre-existing empty dir, which stays, empty, mode kept. */
    assert_int_equal(mkdir(out, 0700), 0);
    assert_int_equal(chmod(out, 0755), 0);
    assert_int_not_equal(hearth_device_provision(&o, &label), HEARTH_OK);
    assert_int_equal(access(out, F_OK), 0);
    assert_int_equal(count_entries(out), 0);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0755);
    /* ... and a good provisioning into that empty dir then works. */
    o.rot = HEARTH_ROT_FILE;
    o.tpm_tcti = NULL;
    assert_int_equal(hearth_device_provision(&o, &label), HEARTH_OK);
    expect_open_ok(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_1_2_setup_password_format_alphabet_length),
        cmocka_unit_test(test_5_1_2_setup_password_entropy_estimate),
        cmocka_unit_test(test_5_1_2_weak_candidates_are_redrawn),
        cmocka_unit_test(test_5_3_16_label_format_known_answer),
        cmocka_unit_test(test_5_4_4_ca_init_modes_and_refuses_existing),
        cmocka_unit_test(test_5_4_4_provision_open_round_trip),
        cmocka_unit_test(test_5_4_4_device_certificate_fields),
        cmocka_unit_test(test_5_4_4_devices_unique),
        cmocka_unit_test(test_5_4_3_private_key_not_in_plaintext),
        cmocka_unit_test(test_5_4_2_edited_device_json_detected),
        cmocka_unit_test(test_5_13_1_device_json_strict_parse),
        cmocka_unit_test(test_5_4_2_escaped_nul_in_device_json_rejected),
        cmocka_unit_test(test_5_4_2_cert_from_other_ca_rejected),
        cmocka_unit_test(test_5_4_1_device_config_authenticated_before_use),
        cmocka_unit_test(test_5_1_1_nonempty_dir_refused_untouched),
        cmocka_unit_test(test_5_1_1_failures_leave_nothing),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
