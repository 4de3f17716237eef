/*
 * The black-box units (hearth assess): each gathers its evidence over the
 * network within the run's budget and hands it to the shared judges
 * (judge.c). docs/assessment.md describes every unit and its verdicts.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "assess_internal.h"
#include "hearth/util.h"

#define EVCAP HEARTH_ASSESS_EVIDENCE_MAX

#define ev_add(ev, ...) ax_ev_add((ev), EVCAP, __VA_ARGS__)

static void sleep_ms(int64_t ms)
{
    if (ms <= 0) return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* JSON string body (no quotes) of @p s into @p out; false if it does not fit. */
static bool json_escape(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        int n = (c == '"' || c == '\\') ? snprintf(tmp, sizeof tmp, "\\%c", c)
                : c < 0x20              ? snprintf(tmp, sizeof tmp, "\\u%04x", c)
                                        : snprintf(tmp, sizeof tmp, "%c", c);
        if (n < 0 || o + (size_t)n + 1 > cap) return false;
        memcpy(out + o, tmp, (size_t)n);
        o += (size_t)n;
    }
    out[o] = '\0';
    return true;
}

/* POST /api/v1/login; the status (-1 transport, -2 budget). */
static int login(ax_run *a, const char *user, const char *pw, ax_resp *resp)
{
    char u[200], p[400], body[700];
    if (!json_escape(user, u, sizeof u) || !json_escape(pw, p, sizeof p)) return -1;
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", u, p);
    int st = ax_https(a, "POST", "/api/v1/login", NULL, body, resp);
    hearth_memzero(body, sizeof body);
    hearth_memzero(p, sizeof p);
    return st;
}

static uint32_t retry_after(const ax_resp *r)
{
    char v[16];
    if (!ax_header(r, "Retry-After", v, sizeof v)) return 0;
    char *end = NULL;
    unsigned long x = strtoul(v, &end, 10);
    return (end != v && x < 86400) ? (uint32_t)x : 0;
}

/* ------------------------------------------------------------------ TLS */

/* Certificate facts of the negotiated session; false if it is unacceptable. */
static bool cert_facts(ax_run *a, SSL *s, char *ev)
{
    X509 *c = SSL_get1_peer_certificate(s);
    if (c == NULL) {
        ev_add(ev, "; no certificate");
        return false;
    }
    bool ok = true;
    char subj[160] = "", iss[160] = "";
    X509_NAME_oneline(X509_get_subject_name(c), subj, sizeof subj);
    X509_NAME_oneline(X509_get_issuer_name(c), iss, sizeof iss);
    EVP_PKEY *k = X509_get0_pubkey(c);
    int bits = k ? EVP_PKEY_get_bits(k) : 0;
    const char *kt = k ? EVP_PKEY_get0_type_name(k) : NULL;
    ev_add(ev, "; certificate %s issued by %s, %s %d bits", subj, iss, kt ? kt : "?", bits);
    if (k && EVP_PKEY_is_a(k, "RSA") && bits < 2048) {
        ev_add(ev, " (RSA under 2048 bits)");
        ok = false;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(c)) <= 0) {
        ev_add(ev, " EXPIRED");
        ok = false;
    }
    if (a->t->cacert != NULL) {
        long vr = SSL_get_verify_result(s);
        if (vr == X509_V_OK) {
            ev_add(ev, ", verified against the given CA");
        } else {
            ev_add(ev, ", NOT verified against the given CA (%s)", X509_verify_cert_error_string(vr));
            ok = false;
        }
    } else {
        ev_add(ev, " (not verified: no --cacert)");
    }
    X509_free(c);
    return ok;
}

/* Does a plain HTTP request get an HTTP answer on the API port? */
static bool plaintext_http(ax_run *a)
{
    int fd = ax_tcp_connect(a, a->t->port);
    if (fd < 0) return false;
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    char buf[16] = "";
    bool http = write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) &&
                read(fd, buf, 7) == 7 && memcmp(buf, "HTTP/1.", 7) == 0;
    close(fd);
    return http;
}

/* One legacy probe: true if the target completed the handshake. */
static bool legacy_accepted(ax_run *a, const char *what, int minv, int maxv, const char *ciphers,
                            char *ev)
{
    char err[160];
    SSL *s = ax_tls_connect(a, minv, maxv, ciphers, err, sizeof err);
    if (s == NULL) {
        ev_add(ev, "; %s refused", what);
        return false;
    }
    ev_add(ev, "; %s ACCEPTED (%s, %s)", what, SSL_get_version(s), SSL_get_cipher_name(s));
    ax_tls_close(s);
    return true;
}

static void unit_tls(ax_run *a)
{
    char ev[EVCAP] = "", err[160];
    bool fail = false, modern = false;
    SSL *s = ax_tls_connect(a, TLS1_2_VERSION, 0, NULL, err, sizeof err);
    if (s != NULL) {
        modern = true;
        ev_add(ev, "negotiated %s %s", SSL_get_version(s), SSL_get_cipher_name(s));
        if (!cert_facts(a, s, ev)) fail = true;
        ax_tls_close(s);
    } else if (!a->budget_hit && plaintext_http(a)) {
        hearth_assess_add(a->r, "tls-config", HEARTH_VERDICT_FAIL,
                          "no TLS 1.2/1.3 handshake (%s); the port answers plaintext HTTP", err);
        return;
    } else {
        ev_add(ev, "no TLS 1.2/1.3 handshake (%s)", err);
    }
    /* Client side at security level 0 so that OpenSSL will offer what we ask about. */
    fail |= legacy_accepted(a, "TLS 1.0", TLS1_VERSION, TLS1_VERSION, "ALL:@SECLEVEL=0", ev);
    fail |= legacy_accepted(a, "TLS 1.1", TLS1_1_VERSION, TLS1_1_VERSION, "ALL:@SECLEVEL=0", ev);
    fail |= legacy_accepted(a, "TLS 1.2 non-AEAD suites", TLS1_2_VERSION, TLS1_2_VERSION,
                            "ALL:COMPLEMENTOFALL:!AESGCM:!AESCCM:!CHACHA20:!ARIAGCM:@SECLEVEL=0", ev);
    hearth_verdict v = fail             ? HEARTH_VERDICT_FAIL
                       : a->budget_hit  ? HEARTH_VERDICT_INCONCLUSIVE
                       : modern         ? HEARTH_VERDICT_PASS
                                        : HEARTH_VERDICT_INCONCLUSIVE;
    hearth_assess_add(a->r, "tls-config", v, "%s%s", ev, a->budget_hit ? "; request budget spent" : "");
}

/* ------------------------------------------------------------ open ports */

/* Common ports of consumer IoT devices and their management services. */
static const uint16_t common_ports[] = {21,   22,   23,   25,   53,   80,   81,   443,  554,
                                        1080, 1883, 1900, 2323, 5000, 5001, 7547, 8000, 8008,
                                        8080, 8081, 8443, 8883, 8888, 9000, 49152};

static void grab_banner(ax_run *a, int fd, uint16_t port)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[96];
    if (poll(&p, 1, 300) != 1) return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0) return;
    for (ssize_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e) buf[i] = '.';
    buf[n] = '\0';
    size_t len = strlen(a->banners);
    snprintf(a->banners + len, sizeof a->banners - len, "%sport %u: \"%s\"", len ? "; " : "", port,
             buf);
}

/* The same ports over UDP: evidence into @p ev (EVCAP bytes), the verdict returned. */
static hearth_verdict unit_ports_udp(ax_run *a, const uint16_t *list, size_t n, char *ev)
{
    ax_udp_state st[HEARTH_ASSESS_PORTS_MAX];
    uint16_t open_ports[HEARTH_ASSESS_PORTS_MAX], maybe[HEARTH_ASSESS_PORTS_MAX];
    size_t n_open = 0, n_maybe = 0, closed = 0, unprobed = 0;
    int64_t t0 = hearth_mono_ms();
    ax_udp_probe(a, list, n, st);
    for (size_t i = 0; i < n; i++) {
        switch (st[i]) {
        case AX_UDP_OPEN: open_ports[n_open++] = list[i]; break;
        case AX_UDP_SILENT: maybe[n_maybe++] = list[i]; break;
        case AX_UDP_CLOSED: closed++; break;
        case AX_UDP_UNPROBED: unprobed++; break;
        }
    }
    char jev[EVCAP];
    hearth_verdict v = hearth_assess_judge_udp(open_ports, n_open, maybe, n_maybe,
                                               a->t->declared_udp, a->t->n_declared_udp, jev,
                                               sizeof jev);
    if (v == HEARTH_VERDICT_PASS && unprobed > 0) v = HEARTH_VERDICT_INCONCLUSIVE;
    ev[0] = '\0';
    ev_add(ev, "UDP datagram to %zu of %zu ports in %lld ms: %zu closed (ICMP port unreachable)%s; %s",
           n - unprobed, n, (long long)(hearth_mono_ms() - t0), closed,
           unprobed ? " (NOT ALL PROBED)" : "", jev);
    return v;
}

static void unit_ports(ax_run *a)
{
    uint16_t list[HEARTH_ASSESS_PORTS_MAX] = {0}, open_ports[HEARTH_ASSESS_PORTS_MAX] = {0};
    uint16_t declared[HEARTH_ASSESS_PORTS_MAX] = {0};
    size_t n = 0, n_open = 0, nd = 0, probed = 0;
    const uint16_t *src = a->t->ports ? a->t->ports : common_ports;
    size_t ns = a->t->ports ? a->t->n_ports : sizeof common_ports / sizeof common_ports[0];
    list[n++] = a->t->port;
    for (size_t i = 0; i < ns && n < HEARTH_ASSESS_PORTS_MAX; i++) {
        bool dup = false;
        for (size_t j = 0; j < n; j++) dup |= list[j] == src[i];
        if (!dup) list[n++] = src[i];
    }
    declared[nd++] = a->t->port;
    for (size_t i = 0; i < a->t->n_declared && nd < HEARTH_ASSESS_PORTS_MAX; i++)
        declared[nd++] = a->t->declared[i];
    for (size_t i = 0; i < n; i++) {
        int fd = ax_tcp_connect(a, list[i]);
        if (a->budget_hit) break;
        probed++;
        if (fd < 0) continue;
        open_ports[n_open++] = list[i];
        if (list[i] != a->t->port) grab_banner(a, fd, list[i]);
        close(fd);
    }
    char ev[EVCAP];
    hearth_verdict v = hearth_assess_judge_ports(open_ports, n_open, declared, nd, ev, sizeof ev);
    if (v == HEARTH_VERDICT_PASS && probed < n) v = HEARTH_VERDICT_INCONCLUSIVE;
    char *uev = malloc(EVCAP);
    if (uev == NULL) {
        hearth_assess_add(a->r, "open-ports", HEARTH_VERDICT_INCONCLUSIVE, "out of memory");
        return;
    }
    hearth_verdict uv = unit_ports_udp(a, list, n, uev);
    if (uv == HEARTH_VERDICT_FAIL || v == HEARTH_VERDICT_FAIL) v = HEARTH_VERDICT_FAIL;
    else if (uv == HEARTH_VERDICT_INCONCLUSIVE) v = HEARTH_VERDICT_INCONCLUSIVE;
    hearth_assess_add(a->r, "open-ports", v, "TCP connect to %zu of %zu ports (%s); %s%s%s; %s",
                      probed, n, a->t->ports ? "--ports" : "built-in list of common IoT ports", ev,
                      a->banners[0] ? "; banners: " : "", a->banners, uev);
    free(uev);
}

/* ------------------------------------------------------- disclosure */

static bool has_digit(const char *s)
{
    return strpbrk(s, "0123456789") != NULL;
}

static void unit_disclosure(ax_run *a)
{
    static const char *const paths[] = {"/", "/api/v1/device", "/api/v1/users", "/api/v1/events",
                                        "/api/v1/updates", "/api/v1/apps"};
    static const char *const leaky[] = {"Server", "X-Powered-By", "X-AspNet-Version", "Via"};
    char ev[EVCAP] = "";
    bool leak = false, answered = false;
    ax_resp *r = malloc(sizeof *r);
    if (r == NULL) {
        hearth_assess_add(a->r, "unauth-disclosure", HEARTH_VERDICT_INCONCLUSIVE, "out of memory");
        return;
    }
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int st = ax_https(a, "GET", paths[i], NULL, NULL, r);
        if (st == -2) break;
        ev_add(ev, "%sGET %s %d", i ? "; " : "", paths[i], st);
        if (st < 0) continue;
        answered = true;
        for (size_t h = 0; h < sizeof leaky / sizeof leaky[0]; h++) {
            char v[128];
            if (!ax_header(r, leaky[h], v, sizeof v)) continue;
            if (has_digit(v)) {
                ev_add(ev, " %s: \"%s\" (VERSION DISCLOSED)", leaky[h], v);
                leak = true;
            } else {
                ev_add(ev, " %s: \"%s\"", leaky[h], v);
            }
        }
        if (st >= 200 && st < 300 && strncmp(paths[i], "/api/", 5) == 0) {
            ev_add(ev, " ANSWERS WITHOUT AUTHENTICATION (%.80s)", r->body);
            leak = true;
        }
    }
    free(r);
    if (a->banners[0]) {
        ev_add(ev, "; BANNERS on other ports: %s", a->banners);
        leak = true;
    }
    hearth_verdict v = leak             ? HEARTH_VERDICT_FAIL
                       : a->budget_hit  ? HEARTH_VERDICT_INCONCLUSIVE
                       : answered       ? HEARTH_VERDICT_PASS
                                        : HEARTH_VERDICT_INCONCLUSIVE;
    hearth_assess_add(a->r, "unauth-disclosure", v, "%s%s", ev,
                      a->budget_hit ? "; request budget spent" : "");
}

/* ------------------------------------------------------- security.txt */

static void unit_security_txt(ax_run *a)
{
    ax_resp *r = malloc(sizeof *r);
    if (r == NULL) return;
    int st = ax_https(a, "GET", "/.well-known/security.txt", NULL, NULL, r);
    if (st < 0) {
        hearth_assess_add(a->r, "security-txt", HEARTH_VERDICT_INCONCLUSIVE, "%s",
                          st == -2 ? "request budget spent" : "no HTTPS answer");
    } else {
        char ev[EVCAP], ct[128];
        bool has_ct = ax_header(r, "Content-Type", ct, sizeof ct);
        hearth_verdict v = hearth_assess_judge_security_txt(st, has_ct ? ct : NULL, r->body,
                                                            r->body_len, hearth_time_now(), ev,
                                                            sizeof ev);
        hearth_assess_add(a->r, "security-txt", v, "%s", ev);
    }
    free(r);
}

/* ---------------------------------------------------------- setup state */

static long count_admins(const char *body)
{
    long n = 0;
    for (const char *p = body; (p = strstr(p, "\"role\":\"admin\"")) != NULL; p++) n++;
    return n;
}

/* "id=VERDICT, ..." from the device's own GET /api/v1/setup-check answer. */
static void summarise_setup_check(const char *body, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = body;
    while ((p = strstr(p, "\"id\":\"")) != NULL) {
        p += 6;
        size_t il = strcspn(p, "\"");
        const char *v = strstr(p, "\"verdict\":\"");
        if (v == NULL) break;
        v += 11;
        size_t vl = strcspn(v, "\"");
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%.*s=%.*s", len ? ", " : "", (int)(il > 40 ? 40 : il), p,
                 (int)(vl > 16 ? 16 : vl), v);
        p = v;
    }
}

static void unit_setup(ax_run *a)
{
    ax_resp *r = malloc(sizeof *r);
    if (r == NULL) return;
    char ev[EVCAP];
    int st = ax_https(a, "GET", "/api/v1/device", NULL, NULL, r);
    if (st == 409) {
        hearth_verdict v = hearth_assess_judge_setup(false, -1, ev, sizeof ev);
        hearth_assess_add(a->r, "setup-state", v, "GET /api/v1/device 409: %s", ev);
    } else if (st >= 200 && st < 300) {
        hearth_assess_add(a->r, "setup-state", HEARTH_VERDICT_FAIL,
                          "GET /api/v1/device %d without authentication: no access control", st);
    } else if (st != 401) {
        hearth_assess_add(a->r, "setup-state", HEARTH_VERDICT_INCONCLUSIVE,
                          "GET /api/v1/device answered %d: not the Hearth API", st);
    } else if (a->t->admin_user == NULL) {
        hearth_verdict v = hearth_assess_judge_setup(true, -1, ev, sizeof ev);
        hearth_assess_add(a->r, "setup-state", v, "GET /api/v1/device 401: %s", ev);
    } else {
        int ls = login(a, a->t->admin_user, a->t->admin_password, r);
        const char *tok = ls == 200 ? strstr(r->body, "\"token\":\"") : NULL;
        size_t tl = tok ? strspn(tok + 9, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") : 0;
        if (tok == NULL || tl == 0 || tl >= sizeof a->token) {
            hearth_assess_add(a->r, "setup-state", HEARTH_VERDICT_INCONCLUSIVE,
                              "set up (GET /api/v1/device 401); the admin credential was not "
                              "accepted (login %d)",
                              ls);
        } else {
            memcpy(a->token, tok + 9, tl);
            a->token[tl] = '\0';
            int us = ax_https(a, "GET", "/api/v1/users", a->token, NULL, r);
            long admins = us == 200 ? count_admins(r->body) : -1;
            hearth_verdict v = hearth_assess_judge_setup(true, admins, ev, sizeof ev);
            char inside[600] = "";
            int cs = ax_https(a, "GET", "/api/v1/setup-check", a->token, NULL, r);
            if (cs == 200) summarise_setup_check(r->body, inside, sizeof inside);
            hearth_assess_add(a->r, "setup-state", v,
                              "GET /api/v1/device 401; admin login 200; GET /api/v1/users %d: %s; "
                              "the device's own check (GET /api/v1/setup-check %d)%s%s",
                              us, ev, cs, inside[0] ? ": " : "", inside);
        }
    }
    hearth_memzero(r, sizeof *r);
    free(r);
}

/* --------------------------------------------------- default credentials */

#define CRED_LINE_MAX 128
#define CRED_MAX 200

static void unit_default_credentials(ax_run *a)
{
    if (a->t->credentials == NULL) {
        hearth_assess_add(a->r, "default-credentials", HEARTH_VERDICT_NA,
                          "no credential list given");
        return;
    }
    FILE *f = fopen(a->t->credentials, "re");
    if (f == NULL) {
        hearth_assess_add(a->r, "default-credentials", HEARTH_VERDICT_INCONCLUSIVE,
                          "cannot read the credential list %s", a->t->credentials);
        return;
    }
    static char creds[CRED_MAX][CRED_LINE_MAX];
    size_t n = 0;
    char line[CRED_LINE_MAX + 2];
    while (n < CRED_MAX && fgets(line, sizeof line, f) != NULL) {
        size_t l = strcspn(line, "\r\n");
        if (line[l] == '\0' && !feof(f)) { /* longer than a pair may be: skip it */
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {
            }
            continue;
        }
        line[l] = '\0';
        if (line[0] == '#' || l == 0 || l >= CRED_LINE_MAX || strchr(line, ':') == NULL) continue;
        memcpy(creds[n++], line, l + 1);
    }
    (void)fclose(f);
    ax_resp *r = malloc(sizeof *r);
    if (r == NULL) return;
    char ev[EVCAP] = "", accepted[512] = "";
    size_t tried = 0, refused = 0;
    hearth_verdict v = HEARTH_VERDICT_INCONCLUSIVE;
    bool stop = false;
    for (size_t i = 0; i < n && !stop; i++) {
        char *colon = strchr(creds[i], ':');
        *colon = '\0';
        int st = login(a, creds[i], colon + 1, r);
        *colon = ':';
        switch (st) {
        case 200: {
            tried++;
            size_t len = strlen(accepted);
            int k = snprintf(accepted + len, sizeof accepted - len, "%s%s", len ? ", " : "", creds[i]);
            if (k < 0) accepted[len] = '\0';
            break;
        }
        case 400: case 401: case 403: case 422:
            tried++;
            refused++;
            break;
        case 409:
            hearth_assess_add(a->r, "default-credentials", HEARTH_VERDICT_NA,
                              "login answered 409: the device is in its factory default state, no "
                              "account exists yet (setup needs the per-device label password)");
            free(r);
            return;
        case 404: case 405:
            ev_add(ev, "POST /api/v1/login answered %d: no login endpoint", st);
            stop = true;
            break;
        case 429: case 503:
            ev_add(ev, "throttled after %zu tries (HTTP %d, Retry-After %u s): the other %zu were "
                       "not tried",
                   tried, st, retry_after(r), n - tried);
            stop = true;
            break;
        case -2:
            ev_add(ev, "request budget spent after %zu tries", tried);
            stop = true;
            break;
        default:
            ev_add(ev, "login answered %d", st);
            stop = true;
        }
    }
    hearth_memzero(r, sizeof *r);
    free(r);
    if (accepted[0]) v = HEARTH_VERDICT_FAIL;
    else if (tried == n && n > 0) v = HEARTH_VERDICT_PASS;
    hearth_assess_add(a->r, "default-credentials", v,
                      "%zu of %zu user:password pairs from %s tried, %zu refused%s%s%s%s", tried, n,
                      a->t->credentials, refused, accepted[0] ? "; ACCEPTED: " : "", accepted,
                      ev[0] ? "; " : "", ev);
}

/* ------------------------------------------------------------ brute force */

#define BF_GUESSES_MAX 40
#define BF_UNTHROTTLED_FAIL 20 /* this many wrong guesses evaluated without refusal: FAIL */

static void unit_brute_force(ax_run *a)
{
    ax_resp *r = malloc(sizeof *r);
    if (r == NULL) return;
    const char *user = a->t->admin_user ? a->t->admin_user : "admin";
    int64_t t0 = hearth_mono_ms();
    size_t evaluated = 0, throttled = 0, first_throttle = 0;
    char delays[200] = "", end[160] = "";
    uint8_t rnd[8];
    char salt[17] = "0000000000000000";
    if (hearth_random(rnd, sizeof rnd) != HEARTH_OK ||
        hearth_hex_encode(rnd, sizeof rnd, salt, sizeof salt) != HEARTH_OK)
        snprintf(salt, sizeof salt, "%016llx", (unsigned long long)hearth_mono_ms());
    for (size_t g = 1; g <= BF_GUESSES_MAX; g++) {
        char pw[64];
        snprintf(pw, sizeof pw, "hearth-assess-wrong-%s-%zu", salt, g);
        int st = login(a, user, pw, r);
        if (st == 401 || st == 403) {
            evaluated++;
            if (throttled == 0 && evaluated >= BF_UNTHROTTLED_FAIL) break;
            continue;
        }
        if (st == 429 || st == 503) {
            throttled++;
            if (first_throttle == 0) first_throttle = g;
            uint32_t ra = retry_after(r);
            size_t len = strlen(delays);
            snprintf(delays + len, sizeof delays - len, "%s%u", len ? ", " : "", ra);
            /* A patient attacker waits as told, within our bounds. */
            if (ra == 0) ra = 1;
            if ((int64_t)ra * 1000 + 500 > ax_left_ms(a)) {
                snprintf(end, sizeof end, "stopped: Retry-After %u s exceeds the time left", ra);
                break;
            }
            sleep_ms((int64_t)ra * 1000);
            continue;
        }
        if (st == 200) {
            snprintf(end, sizeof end, "a random password was ACCEPTED");
            evaluated++;
            break;
        }
        snprintf(end, sizeof end, "%s (login answered %d)",
                 st == -2 ? "stopped: request budget spent" : "stopped", st);
        if (st == 404 || st == 405 || st == 409) {
            hearth_assess_add(a->r, "brute-force", HEARTH_VERDICT_NA,
                              "POST /api/v1/login answered %d: no password login to guess against",
                              st);
            free(r);
            return;
        }
        break;
    }
    free(r);
    int64_t ms = hearth_mono_ms() - t0;
    if (ms < 1) ms = 1;
    double per_min = (double)evaluated * 60000.0 / (double)ms;
    hearth_verdict v;
    char head[256];
    if (throttled > 0) {
        v = HEARTH_VERDICT_PASS;
        snprintf(head, sizeof head, "throttled from guess %zu on (HTTP 429/503, Retry-After %s s)",
                 first_throttle, delays);
    } else if (evaluated >= BF_UNTHROTTLED_FAIL) {
        v = HEARTH_VERDICT_FAIL;
        snprintf(head, sizeof head, "NO THROTTLING: %zu wrong guesses in a row were all evaluated",
                 evaluated);
    } else if (ms >= 10000 && per_min <= 10.0) {
        v = HEARTH_VERDICT_PASS;
        snprintf(head, sizeof head, "slowed without refusals");
    } else {
        v = HEARTH_VERDICT_INCONCLUSIVE;
        snprintf(head, sizeof head, "neither throttled nor %d guesses evaluated",
                 BF_UNTHROTTLED_FAIL);
    }
    hearth_assess_add(a->r, "brute-force", v,
                      "%s; measured: %zu guesses evaluated in %.1f s = %.1f guesses per minute for "
                      "a client that waits as told (user \"%s\")%s%s",
                      head, evaluated, (double)ms / 1000.0, per_min, user, end[0] ? "; " : "", end);
}

/* ------------------------------------------------------------------ run */

hearth_status hearth_assess_run(const hearth_assess_target *t, hearth_assess_report *r)
{
    if (t == NULL || r == NULL || t->host == NULL || t->port == 0 ||
        (t->admin_user == NULL) != (t->admin_password == NULL) ||
        t->n_ports > HEARTH_ASSESS_PORTS_MAX || t->n_declared > HEARTH_ASSESS_PORTS_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "assess: bad target");
    memset(r, 0, sizeof *r);
    ax_run *a = calloc(1, sizeof *a);
    if (a == NULL) return hearth_err(HEARTH_ERR_NOMEM, "assess: out of memory");
    a->t = t;
    a->r = r;
    r->max_requests = t->max_requests ? t->max_requests : 400;
    r->max_seconds = t->max_seconds ? t->max_seconds : 60;
    a->timeout_ms = t->probe_timeout_ms ? t->probe_timeout_ms : 1500;
    a->deadline_ms = hearth_mono_ms() + (int64_t)r->max_seconds * 1000;
    bool v6 = strchr(t->host, ':') != NULL;
    snprintf(r->target, sizeof r->target, v6 ? "[%s]:%u" : "%s:%u", t->host, t->port);
    r->started = hearth_time_now();
    unit_tls(a);
    unit_ports(a);
    unit_disclosure(a);
    unit_security_txt(a);
    unit_setup(a);
    ax_unit_update(a);
    unit_default_credentials(a);
    unit_brute_force(a);
    r->finished = hearth_time_now();
    hearth_memzero(a, sizeof *a);
    free(a);
    return HEARTH_OK;
}
