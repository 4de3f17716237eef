/* A hostile (or broken) stand-in for hearth-fetch, for
 * tests/unit/test_updater_transport.c: it reads the request record like the
 * real helper, then misbehaves in the way the URL path names
 * ("https://hostile.invalid/<mode>"), so the test can prove the daemon side
 * treats the helper's output as untrusted input (EN 303 645 5.13-1).
 * Not shipped; built only with the tests. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hearth/common.h"
#include "hearth/util.h"
#include "hearth/fetch_proto.h"

extern char **environ;

/* In a sanitizer build the leak checker's exit-time scan stops the world
 * with ptrace, which the helper's Landlock domain refuses; it then exits 1
 * and a well-behaved helper would look broken. The stand-in holds nothing
 * worth scanning, so it turns the scan off for itself (its environment is
 * empty by design, so ASAN_OPTIONS cannot). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

static void put(const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(1, b, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) continue;
            _exit(9); /* parent hung up: that is what it should do */
        }
        b += w;
        n -= (size_t)w;
    }
}

static void hdr(uint8_t type, uint32_t len)
{
    uint8_t h[5] = {type, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    put(h, sizeof h);
}

static void data(const void *p, uint32_t n)
{
    hdr(HEARTH_FETCH_FRAME_DATA, n);
    put(p, n);
}

/* RESULT frame; msg may hold any bytes (the parent must sanitise them). */
static void result(int32_t st, uint32_t code, uint64_t received, uint8_t flags, const char *msg)
{
    uint8_t b[HEARTH_FETCH_FRAME_RESULT_MAX];
    size_t ml = strlen(msg), o = 0;
    uint32_t s = (uint32_t)st;
    for (int i = 3; i >= 0; i--) b[o++] = (uint8_t)(s >> (8 * i));
    for (int i = 3; i >= 0; i--) b[o++] = (uint8_t)(code >> (8 * i));
    for (int i = 7; i >= 0; i--) b[o++] = (uint8_t)(received >> (8 * i));
    b[o++] = flags;
    b[o++] = (uint8_t)(ml >> 8);
    b[o++] = (uint8_t)ml;
    memcpy(b + o, msg, ml);
    o += ml;
    hdr(HEARTH_FETCH_FRAME_RESULT, (uint32_t)o);
    put(b, o);
}

int main(int argc, char **argv)
{
    (void)argv;
    /* Observed before anything opens a descriptor of its own. */
    int open_fds = 0;
    for (int fd = 3; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0) open_fds++;
    int nenv = 0;
    for (char **e = environ; e != NULL && *e != NULL; e++) nenv++;

    hearth_buf in;
    hearth_buf_init(&in, HEARTH_FETCH_REQ_MAX);
    int conn = -1;
    if (hearth_fetch_request_recv(0, &in, &conn) != HEARTH_OK) return 3;
    hearth_fetch_request rq;
    if (hearth_fetch_request_decode(in.data, in.len, &rq) != HEARTH_OK) return 5;
    const char *url = rq.url;
    size_t url_len = strlen(url);
    uint64_t off = rq.offset, max = rq.max_bytes;

    static const char pfx[] = "https://hostile.invalid/";
    if (url_len < sizeof pfx - 1 || memcmp(url, pfx, sizeof pfx - 1) != 0) return 6;
    char mode[64] = "";
    size_t ml = url_len - (sizeof pfx - 1);
    if (ml >= sizeof mode) return 6;
    memcpy(mode, url + sizeof pfx - 1, ml);
    mode[ml] = '\0';

    static uint8_t big[HEARTH_FETCH_FRAME_DATA_MAX + 16];
    memset(big, 'x', sizeof big);
    if (strcmp(mode, "ok") == 0) {
        data("hello ", 6);
        data("world", 5);
        result(HEARTH_OK, 200, 11, 0, "");
    } else if (strcmp(mode, "inspect") == 0) {
        /* What the helper was given: argv, environment, inherited
         * descriptors, the passed connection, and whether the request
         * bytes hold anything that looks like a key. */
        char s[256];
        bool key = memmem(in.data, in.len, "PRIVATE KEY", 11) != NULL ||
                   memmem(in.data, in.len, "-----BEGIN", 10) != NULL;
        int l = snprintf(s, sizeof s, "argc=%d env=%d fds=%d conn=%d offset=%llu max=%llu req=%zu key=%d",
                         argc, nenv, open_fds, conn >= 0, (unsigned long long)off,
                         (unsigned long long)max, in.len, key);
        data(s, (uint32_t)l);
        result(HEARTH_OK, 200, (uint64_t)l, 0, "");
    } else if (strcmp(mode, "full") == 0) {
        /* The largest legal frame: must be accepted. */
        data(big, HEARTH_FETCH_FRAME_DATA_MAX);
        result(HEARTH_OK, 200, HEARTH_FETCH_FRAME_DATA_MAX, 0, "");
    } else if (strcmp(mode, "oversize") == 0) {
        hdr(HEARTH_FETCH_FRAME_DATA, HEARTH_FETCH_FRAME_DATA_MAX + 1);
        put(big, HEARTH_FETCH_FRAME_DATA_MAX + 1);
        sleep(30);
    } else if (strcmp(mode, "hugelen") == 0) {
        hdr(HEARTH_FETCH_FRAME_DATA, 0xffffffffu);
        sleep(30);
    } else if (strcmp(mode, "empty") == 0) {
        hdr(HEARTH_FETCH_FRAME_DATA, 0);
        sleep(30);
    } else if (strcmp(mode, "truncated") == 0) {
        hdr(HEARTH_FETCH_FRAME_DATA, 1000);
        put(big, 10);
        return 0;
    } else if (strcmp(mode, "truncated-hdr") == 0) {
        uint8_t h[3] = {HEARTH_FETCH_FRAME_DATA, 0, 0};
        put(h, sizeof h);
        return 0;
    } else if (strcmp(mode, "toomuch") == 0) {
        /* Ignores max_bytes: 64 + 64 + 64 bytes against the parent's limit. */
        for (int i = 0; i < 3; i++) data(big, 64);
        sleep(30);
    } else if (strcmp(mode, "noresult") == 0) {
        data("hello", 5);
        return 0;
    } else if (strcmp(mode, "killed") == 0) {
        data("hello", 5);
        raise(SIGKILL);
    } else if (strcmp(mode, "hang") == 0) {
        sleep(30);
    } else if (strcmp(mode, "lie") == 0) {
        data("hello", 5);
        result(HEARTH_OK, 200, 999, 0, "");
    } else if (strcmp(mode, "badtype") == 0) {
        hdr(7, 4);
        put("abcd", 4);
        sleep(30);
    } else if (strcmp(mode, "trailing") == 0) {
        result(HEARTH_OK, 200, 0, 0, "");
        put("X", 1);
        sleep(30);
    } else if (strcmp(mode, "bigresult") == 0) {
        hdr(HEARTH_FETCH_FRAME_RESULT, HEARTH_FETCH_FRAME_RESULT_MAX + 1);
        put(big, HEARTH_FETCH_FRAME_RESULT_MAX + 1);
        sleep(30);
    } else if (strcmp(mode, "badstatus") == 0) {
        result(5, 200, 0, 0, "");
    } else if (strcmp(mode, "badflags") == 0) {
        result(HEARTH_OK, 200, 0, 0x80, "");
    } else if (strcmp(mode, "notfound") == 0) {
        result(HEARTH_ERR_NOT_FOUND, 404, 0, 0, "repository \x1b[31manswered\n 404");
    } else if (strcmp(mode, "tlsflag") == 0) {
        /* The retired "TLS failed" flag: only hearthd knows that now. */
        result(HEARTH_ERR_IO, 0, 0, 0x02, "download failed: bad certificate");
    } else if (strcmp(mode, "slow") == 0) {
        data("hello", 5);
        data("world", 5);
        sleep(30);
        result(HEARTH_OK, 200, 10, 0, "");
    } else if (strcmp(mode, "exitcode") == 0) {
        result(HEARTH_OK, 200, 0, 0, "");
        return 3;
    } else if (strcmp(mode, "lingers") == 0) {
        /* Valid result, then stays alive with its socket closed. */
        result(HEARTH_OK, 200, 0, 0, "");
        close(0);
        close(1);
        sleep(30);
    } else {
        return 7;
    }
    hearth_buf_free(&in);
    return 0;
}
