/* `hearth bundle`: build, sign, inspect and verify update bundles (EN 303 645
 * 5.3-7, 5.3-9, 5.3-10, 5.3-11, 5.3-12, 5.5-3). Format: docs/update-format.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "commands.h"
#include "hearth/bundle.h"
#include "hearth/sbom.h"

static void bundle_usage(FILE *f)
{
    fprintf(f,
        "usage: hearth bundle create --out B --model M --hw-id H --version V\n"
        "                            --security-version N --expires DAYS|--expires-at EPOCH\n"
        "                            --notes-file F --mitigates TEXT [--disruptive --downtime S]\n"
        "                            [--chunk-size BYTES] --payload NAME=PATH... [--progress]\n"
        "                            [--sbom FILE]\n"
        "       hearth bundle sign B --key K [--key K2] [--pass-file F]\n"
        "       hearth bundle inspect B [--sbom]\n"
        "       hearth bundle verify B --keyset KS --trust ROOTPUBS_DIR [--model M] [--hw-id H]\n"
        "                            [--installed-security-version N] [--installed-version V]\n"
        "                            [--min-keyset-version N] [--threads N] [--progress]\n"
        "                            [--extract SLOT_DIR]\n"
        "       hearth bundle verify-slot SLOT_DIR --keyset KS --trust ROOTPUBS_DIR [--threads N]\n\n"
        "create writes an unsigned bundle; sign adds signatures (key passphrases from\n"
        "--pass-file or HEARTH_KEY_PASS); verify checks the key set against the trust\n"
        "anchor, the manifest signature, the device policy and every payload chunk.\n"
        "--sbom FILE signs a CycloneDX 1.6 SBOM (hearth sbom generate) into the manifest;\n"
        "its programs must be the payloads of the same name. inspect --sbom prints it.\n"
        "Exit: 0 ok, 1 rejected or error, 2 usage.\n");
}

static int bfail(const char *what)
{
    return cli_fail("bundle", what);
}

/* Base 0: numbers may be given in hex (0x...), e.g. chunk sizes. */
static bool parse_u64(const char *s, uint64_t *out)
{
    return cli_parse_u64(s, 0, out);
}

/* Progress on stderr every 5 %, only for a terminal or with --progress. */
struct progress {
    const char *what;
    int last;
};

static void progress_cb(uint64_t done, uint64_t total, void *arg)
{
    struct progress *p = arg;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct / 5 == p->last / 5 && !(pct == 100 && p->last != 100)) return;
    p->last = pct;
    fprintf(stderr, "%s: %3d%% (%llu/%llu MiB)\n", p->what, pct, (unsigned long long)(done >> 20),
            (unsigned long long)(total >> 20));
}

static bool want_progress(bool flag) { return flag || isatty(STDERR_FILENO); }

/* ---------------------------------------------------------------- create */

static int bundle_create(int argc, char **argv)
{
    hearth_bundle_spec spec;
    memset(&spec, 0, sizeof spec);
    hearth_bundle_input inputs[HEARTH_BUNDLE_PAYLOADS_MAX];
    char names[HEARTH_BUNDLE_PAYLOADS_MAX][HEARTH_BUNDLE_ID_MAX + 1];
    const char *out = NULL, *notes_file = NULL, *sbom_file = NULL;
    uint64_t days = 0, at = 0, secver = 0, down = 0, chunk = 0;
    bool have_days = false, have_at = false, have_sec = false, progress = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--disruptive") == 0) { spec.disruptive = true; continue; }
        if (strcmp(a, "--progress") == 0) { progress = true; continue; }
        if (i + 1 >= argc) { bundle_usage(stderr); return 2; }
        const char *v = argv[++i];
        if (strcmp(a, "--out") == 0) out = v;
        else if (strcmp(a, "--model") == 0) spec.model = v;
        else if (strcmp(a, "--hw-id") == 0) spec.hw_id = v;
        else if (strcmp(a, "--version") == 0) spec.sw_version = v;
        else if (strcmp(a, "--security-version") == 0) have_sec = parse_u64(v, &secver);
        else if (strcmp(a, "--expires") == 0) have_days = parse_u64(v, &days) && days > 0 && days < 36500;
        else if (strcmp(a, "--expires-at") == 0) have_at = parse_u64(v, &at) && at < (uint64_t)INT64_MAX;
        else if (strcmp(a, "--notes-file") == 0) notes_file = v;
        else if (strcmp(a, "--mitigates") == 0) spec.mitigates = v;
        else if (strcmp(a, "--sbom") == 0) sbom_file = v;
        else if (strcmp(a, "--downtime") == 0) {
            if (!parse_u64(v, &down) || down > UINT32_MAX) { fprintf(stderr, "hearth bundle: bad --downtime\n"); return 2; }
        } else if (strcmp(a, "--chunk-size") == 0) {
            if (!parse_u64(v, &chunk) || chunk > UINT32_MAX) { fprintf(stderr, "hearth bundle: bad --chunk-size\n"); return 2; }
        } else if (strcmp(a, "--payload") == 0) {
            const char *eq = strchr(v, '=');
            if (eq == NULL || eq == v || (size_t)(eq - v) > HEARTH_BUNDLE_ID_MAX || eq[1] == '\0') {
                fprintf(stderr, "hearth bundle: --payload wants NAME=PATH (name 1..%u bytes), got '%s'\n",
                        HEARTH_BUNDLE_ID_MAX, v);
                return 2;
            }
            if (spec.payload_count == HEARTH_BUNDLE_PAYLOADS_MAX) {
                fprintf(stderr, "hearth bundle: at most %u payloads\n", HEARTH_BUNDLE_PAYLOADS_MAX);
                return 2;
            }
            size_t k = spec.payload_count++;
            memcpy(names[k], v, (size_t)(eq - v));
            names[k][eq - v] = '\0';
            inputs[k].name = names[k];
            inputs[k].path = eq + 1;
        } else { bundle_usage(stderr); return 2; }
    }
    if (out == NULL || spec.model == NULL || spec.hw_id == NULL || spec.sw_version == NULL ||
        !have_sec || (have_days == have_at) || notes_file == NULL || spec.mitigates == NULL ||
        spec.payload_count == 0) {
        fprintf(stderr, "hearth bundle create: --out, --model, --hw-id, --version, --security-version,"
                        " one of --expires DAYS (1..36499) / --expires-at, --notes-file, --mitigates "
                        "and at least one --payload are required\n");
        return 2;
    }
    if (down > 0 && !spec.disruptive) {
        fprintf(stderr, "hearth bundle create: --downtime needs --disruptive\n");
        return 2;
    }
    uint8_t *notes = NULL;
    size_t nlen = 0;
    if (hearth_fs_read_file(notes_file, HEARTH_BUNDLE_NOTES_MAX, &notes, &nlen) != HEARTH_OK)
        return bfail("release notes");
    spec.notes = (const char *)notes;
    if (strlen(spec.notes) != nlen) {
        free(notes);
        fprintf(stderr, "hearth bundle: release notes contain a NUL byte\n");
        return 1;
    }
    uint8_t *sbom = NULL;
    if (sbom_file != NULL) {
        size_t slen = 0;
        const char *pn[HEARTH_BUNDLE_PAYLOADS_MAX], *pp[HEARTH_BUNDLE_PAYLOADS_MAX];
        for (size_t k = 0; k < spec.payload_count; k++) {
            pn[k] = inputs[k].name;
            pp[k] = inputs[k].path;
        }
        if (hearth_fs_read_file(sbom_file, HEARTH_BUNDLE_SBOM_MAX, &sbom, &slen) != HEARTH_OK ||
            hearth_sbom_check_payloads((const char *)sbom, slen, pn, pp, spec.payload_count) !=
                HEARTH_OK) {
            free(notes);
            free(sbom);
            return bfail(sbom_file);
        }
        spec.sbom = (const char *)sbom;
        spec.sbom_len = slen;
    }
    spec.security_version = secver;
    spec.created = hearth_time_now();
    spec.expires = have_at ? (int64_t)at : spec.created + (int64_t)days * 86400;
    spec.downtime_s = (uint32_t)down;
    spec.chunk_size = (uint32_t)chunk;
    spec.payloads = inputs;
    struct progress pr = {"hashing payloads", -5};
    if (want_progress(progress)) {
        spec.progress = progress_cb;
        spec.progress_arg = &pr;
    }
    hearth_status st = hearth_bundle_create(&spec, out);
    free(notes);
    free(sbom);
    if (st != HEARTH_OK) return bfail("create");
    printf("unsigned bundle %s written (%s %s, security version %llu, %zu payload(s)); sign it "
           "with 'hearth bundle sign'\n", out, spec.model, spec.sw_version,
           (unsigned long long)secver, spec.payload_count);
    return 0;
}

/* ------------------------------------------------------------------ sign */

static int bundle_sign(int argc, char **argv)
{
    const char *path = NULL, *pass_file = NULL, *kp[HEARTH_SIGS_MAX];
    size_t nk = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            if (nk == HEARTH_SIGS_MAX) { fprintf(stderr, "hearth bundle: too many keys\n"); return 2; }
            kp[nk++] = argv[++i];
        } else if (strcmp(argv[i], "--pass-file") == 0 && i + 1 < argc) pass_file = argv[++i];
        else if (argv[i][0] != '-' && path == NULL) path = argv[i];
        else { bundle_usage(stderr); return 2; }
    }
    if (path == NULL || nk == 0) { bundle_usage(stderr); return 2; }
    hearth_key *keys[HEARTH_SIGS_MAX] = {0};
    int rc = cli_load_private_keys("bundle", "key", kp, nk, pass_file, keys);
    if (rc == 0 && hearth_bundle_sign(path, (const hearth_key *const *)keys, nk) != HEARTH_OK)
        rc = bfail("sign");
    if (rc == 0) printf("%s signed with %zu key(s)\n", path, nk);
    hearth_keys_free(keys, nk);
    return rc;
}

/* --------------------------------------------------------------- inspect */

static void print_indented(const char *label, const char *text)
{
    printf("%s\n", label);
    if (text[0] == '\0') {
        printf("  (none)\n");
        return;
    }
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        printf("  %.*s\n", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

/* The signed SBOM's summary and its components (docs/sbom.md). */
static void print_sbom(const hearth_manifest *m)
{
    if (m->sbom == NULL) {
        printf("sbom:              none (bundle made without --sbom)\n");
        return;
    }
    hearth_sbom_info info;
    hearth_sbom_component *c = NULL;
    size_t n = 0;
    if (hearth_sbom_parse(m->sbom, m->sbom_len, &info, &c, &n) != HEARTH_OK) {
        printf("sbom:              %zu bytes, NOT a usable CycloneDX 1.6 document: %s\n",
               m->sbom_len, hearth_err_msg());
        return;
    }
    size_t programs = 0;
    for (size_t i = 0; i < n; i++) programs += c[i].sha256[0] != '\0';
    printf("sbom:              CycloneDX 1.6, %zu bytes, signed with the manifest: %s %s, %zu "
           "program(s), %zu package(s)\n",
           m->sbom_len, info.product, info.version, programs, n - programs);
    for (size_t i = 0; i < n; i++) {
        if (c[i].sha256[0] != '\0')
            printf("  %-24s %-22s sha256 %s\n", c[i].name, c[i].version, c[i].sha256);
        else
            printf("  %-24s %-22s %s\n", c[i].name, c[i].version, c[i].purl);
    }
    free(c);
}

static void print_manifest(const hearth_manifest *m)
{
    char t1[64], t2[64];
    cli_fmt_time(m->created, t1, sizeof t1);
    cli_fmt_time(m->expires, t2, sizeof t2);
    printf("format version:    %u\nmodel:             %s\nhardware id:       %s\n"
           "software version:  %s\nsecurity version:  %llu\ncreated:           %s\n"
           "expires:           %s%s\n", m->format_version, m->model, m->hw_id, m->sw_version,
           (unsigned long long)m->security_version, t1, t2,
           m->expires <= hearth_time_now() ? " (EXPIRED)" : "");
    if (m->disruptive)
        printf("disruptive:        YES - basic functions unavailable for about %u s while installing\n",
               m->downtime_s);
    else
        printf("disruptive:        no\n");
    print_indented("risks mitigated:", m->mitigates);
    print_indented("release notes:", m->notes);
    print_sbom(m);
    printf("payloads:          %zu (%llu bytes)\n", m->payload_count, (unsigned long long)m->payload_total);
    for (size_t i = 0; i < m->payload_count; i++) {
        const hearth_payload_info *p = &m->payloads[i];
        char first[2 * HEARTH_DIGEST_LEN + 1] = "-";
        if (p->chunk_count > 0 &&
            hearth_hex_encode(p->chunk_digests, HEARTH_DIGEST_LEN, first, sizeof first) != HEARTH_OK)
            first[0] = '\0';
        printf("  %-16s %llu bytes, %u chunk(s) of %u bytes, sha256, chunk 0 %s\n", p->name,
               (unsigned long long)p->size, p->chunk_count, p->chunk_size, first);
    }
}

static int bundle_inspect(int argc, char **argv)
{
    bool raw_sbom = argc == 3 && strcmp(argv[2], "--sbom") == 0;
    if ((argc != 2 && !raw_sbom) || argv[1][0] == '-') { bundle_usage(stderr); return 2; }
    hearth_bundle *b = NULL;
    if (hearth_bundle_open_unverified(argv[1], &b) != HEARTH_OK) return bfail(argv[1]);
    if (raw_sbom) {
        const hearth_manifest *m = hearth_bundle_manifest(b);
        int rc = 0;
        if (m->sbom == NULL) {
            fprintf(stderr, "hearth bundle: %s carries no SBOM\n", argv[1]);
            rc = 1;
        } else {
            if (fwrite(m->sbom, 1, m->sbom_len, stdout) != m->sbom_len) rc = 1;
        }
        hearth_bundle_free(b);
        return rc;
    }
    printf("bundle:            %s (%llu bytes, signatures NOT checked by inspect)\n", argv[1],
           (unsigned long long)hearth_bundle_total_size(b));
    print_manifest(hearth_bundle_manifest(b));
    uint8_t rid[HEARTH_DIGEST_LEN];
    char rhex[2 * HEARTH_DIGEST_LEN + 1] = "";
    if (hearth_bundle_release_id(b, rid) == HEARTH_OK &&
        hearth_hex_encode(rid, sizeof rid, rhex, sizeof rhex) == HEARTH_OK)
        printf("release id:        %s (SHA-256 of the manifest)\n", rhex);
    printf("signatures:        %zu%s\n", hearth_bundle_sig_count(b),
           hearth_bundle_sig_count(b) ? "" : " (UNSIGNED)");
    for (size_t i = 0; i < hearth_bundle_sig_count(b); i++) {
        int alg = 0;
        const uint8_t *id = NULL;
        char hex[2 * HEARTH_KEY_ID_LEN + 1] = "";
        if (hearth_bundle_sig_info(b, i, &alg, &id) == HEARTH_OK &&
            hearth_hex_encode(id, HEARTH_KEY_ID_LEN, hex, sizeof hex) == HEARTH_OK)
            printf("  %-18s key %s\n", hearth_sig_alg_name(alg), hex);
    }
    hearth_bundle_free(b);
    return 0;
}

/* ---------------------------------------------------------------- verify */

/* Options of verify and verify-slot, as given (numbers checked by
 * verify_begin). */
struct vopts {
    const char *path, *keyset, *trust, *threads, *min_ks;
};
#define VERIFY_OPTS(o)                                                                   \
    {"--keyset", &(o)->keyset, NULL}, {"--trust", &(o)->trust, NULL},                    \
        {"--threads", &(o)->threads, NULL}

/* What both verify commands check against: the trust anchor and the key set
 * it signs. */
struct chain {
    hearth_trust *trust;
    hearth_keyset *ks;
    unsigned threads;
};

static int rejected(hearth_status st)
{
    printf("REJECTED (%s): %s\n", hearth_status_name(st), hearth_err_msg());
    return 1;
}

/* The shared start of verify and verify-slot: the required options, the
 * numbers, then the chain. 0, or the exit status (the chain is freed by
 * chain_free either way). */
static int verify_begin(const struct vopts *o, struct chain *c)
{
    uint64_t threads = 0, min_ks = 0;
    memset(c, 0, sizeof *c);
    if (o->path == NULL || o->keyset == NULL || o->trust == NULL ||
        !cli_opt_u64(o->threads, 0, 64, &threads) ||
        !cli_opt_u64(o->min_ks, 0, UINT64_MAX, &min_ks)) {
        bundle_usage(stderr);
        return 2;
    }
    c->threads = (unsigned)threads;
    if (hearth_trust_load_dir(o->trust, &c->trust) != HEARTH_OK) return bfail("trust anchor");
    hearth_status st = hearth_keyset_load(o->keyset, c->trust, min_ks, 0, &c->ks);
    if (st != HEARTH_OK) {
        printf("REJECTED (%s): key set: %s\n", hearth_status_name(st), hearth_err_msg());
        return 1;
    }
    return 0;
}

static void chain_free(struct chain *c)
{
    hearth_keyset_free(c->ks);
    hearth_trust_free(c->trust);
}

static void print_verified(hearth_bundle *b, const hearth_keyset *ks, const char *extract)
{
    const hearth_manifest *m = hearth_bundle_manifest(b);
    char hex[2 * HEARTH_KEY_ID_LEN + 1] = "";
    if (hearth_hex_encode(hearth_bundle_signer(b), HEARTH_KEY_ID_LEN, hex, sizeof hex) != HEARTH_OK)
        hex[0] = '\0';
    printf("OK: %s %s (security version %llu) signed by %s, key set version %llu, %zu "
           "payload(s) verified%s%s\n", m->model, m->sw_version,
           (unsigned long long)m->security_version, hex,
           (unsigned long long)hearth_keyset_version(ks), m->payload_count,
           extract ? ", installed into " : "", extract ? extract : "");
    uint8_t rid[HEARTH_DIGEST_LEN];
    char rhex[2 * HEARTH_DIGEST_LEN + 1] = "";
    if (hearth_bundle_release_id(b, rid) == HEARTH_OK &&
        hearth_hex_encode(rid, sizeof rid, rhex, sizeof rhex) == HEARTH_OK)
        printf("release id: %s\n", rhex);
    if (m->mitigates[0]) printf("mitigates: %s\n", m->mitigates);
    if (m->disruptive) printf("WARNING: installing disrupts the device for about %u s\n", m->downtime_s);
}

static int bundle_verify(int argc, char **argv)
{
    struct vopts o = {0};
    hearth_bundle_policy pol;
    memset(&pol, 0, sizeof pol);
    const char *extract = NULL, *isv = NULL;
    bool progress = false;
    const cli_opt opts[] = {
        VERIFY_OPTS(&o),
        {"--min-keyset-version", &o.min_ks, NULL},
        {"--model", &pol.model, NULL},
        {"--hw-id", &pol.hw_id, NULL},
        {"--installed-version", &pol.installed_sw_version, NULL},
        {"--installed-security-version", &isv, NULL},
        {"--extract", &extract, NULL},
        {"--progress", NULL, &progress},
        {NULL, NULL, NULL},
    };
    int rc = cli_parse_opts("bundle", bundle_usage, argc, argv, opts, &o.path);
    if (rc >= 0) return rc;
    if (!cli_opt_u64(isv, 0, UINT64_MAX, &pol.installed_security_version)) {
        bundle_usage(stderr);
        return 2;
    }
    struct chain c;
    hearth_bundle *b = NULL;
    rc = verify_begin(&o, &c);
    /* cppcheck-suppress unreadVariable ; a status is defined from its declaration on */
    hearth_status st = HEARTH_OK;
    if (rc == 0) {
        st = hearth_bundle_open(o.path, c.ks, &b);
        if (st != HEARTH_OK) rc = rejected(st);
    }
    if (rc == 0) {
        st = hearth_bundle_check_policy(b, &pol);
        if (st != HEARTH_OK) rc = rejected(st);
    }
    struct progress pr = {"verifying payloads", -5};
    bool prog = want_progress(progress);
    if (rc == 0) {
        st = hearth_bundle_verify_payloads(b, c.threads, prog ? progress_cb : NULL, &pr);
        if (st != HEARTH_OK) rc = rejected(st);
    }
    if (rc == 0 && extract != NULL) {
        struct progress px = {"installing", -5};
        st = hearth_bundle_extract_verified(b, extract, prog ? progress_cb : NULL, &px);
        if (st != HEARTH_OK) rc = rejected(st);
    }
    if (rc == 0) print_verified(b, c.ks, extract);
    hearth_bundle_free(b);
    chain_free(&c);
    return rc;
}

static int bundle_verify_slot(int argc, char **argv)
{
    struct vopts o = {0};
    const cli_opt opts[] = {VERIFY_OPTS(&o), {NULL, NULL, NULL}};
    int rc = cli_parse_opts("bundle", bundle_usage, argc, argv, opts, &o.path);
    if (rc >= 0) return rc;
    struct chain c;
    hearth_manifest *m = NULL;
    rc = verify_begin(&o, &c);
    if (rc == 0) {
        hearth_status st = hearth_slot_verify_dir(o.path, c.ks, NULL, c.threads, &m);
        if (st != HEARTH_OK) rc = rejected(st);
        else printf("OK: slot %s holds %s %s (security version %llu), %zu payload(s) verified\n",
                    o.path, m->model, m->sw_version, (unsigned long long)m->security_version,
                    m->payload_count);
    }
    hearth_manifest_free(m);
    chain_free(&c);
    return rc;
}

int hearth_cmd_bundle(int argc, char **argv)
{
    static const cli_sub subs[] = {
        {"create", bundle_create},           {"sign", bundle_sign},
        {"inspect", bundle_inspect},         {"verify", bundle_verify},
        {"verify-slot", bundle_verify_slot},
    };
    return cli_dispatch("bundle", bundle_usage, subs, sizeof subs / sizeof subs[0], argc, argv);
}
