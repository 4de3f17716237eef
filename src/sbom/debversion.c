/*
 * Debian version comparison, as dpkg's verrevcmp (lib/dpkg/version.c):
 * [epoch:]upstream[-revision]; within each part, alternating non-digit runs
 * compared by a character order in which '~' sorts before everything
 * (even the end of the part) and letters before other characters, and digit
 * runs compared numerically. Used to decide whether an SBOM's package
 * version falls into a vulnerability feed's affected range (vuln.c).
 */
#include <stdbool.h>
#include <string.h>

#include "hearth/sbom.h"

static int order(char c)
{
    if (c >= '0' && c <= '9') return 0;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return c;
    if (c == '~') return -1;
    if (c) return c + 256;
    return 0;
}

/* Compare [a, a_end) with [b, b_end). */
static int verrevcmp(const char *a, const char *ae, const char *b, const char *be)
{
    while (a < ae || b < be) {
        int first_diff = 0;
        while ((a < ae && !(*a >= '0' && *a <= '9')) || (b < be && !(*b >= '0' && *b <= '9'))) {
            int ac = a < ae ? order(*a) : 0;
            int bc = b < be ? order(*b) : 0;
            if (ac != bc) return ac - bc;
            if (a < ae) a++;
            if (b < be) b++;
        }
        while (a < ae && *a == '0') a++;
        while (b < be && *b == '0') b++;
        while (a < ae && *a >= '0' && *a <= '9' && b < be && *b >= '0' && *b <= '9') {
            if (!first_diff) first_diff = *a - *b;
            a++;
            b++;
        }
        if (a < ae && *a >= '0' && *a <= '9') return 1;
        if (b < be && *b >= '0' && *b <= '9') return -1;
        if (first_diff) return first_diff;
    }
    return 0;
}

typedef struct {
    unsigned long epoch;
    const char *up, *up_end, *rev, *rev_end;
} parts;

static void split(const char *v, parts *p)
{
    const char *colon = strchr(v, ':');
    p->epoch = 0;
    if (colon != NULL) {
        for (const char *q = v; q < colon; q++) p->epoch = p->epoch * 10 + (unsigned long)(*q - '0');
        v = colon + 1;
    }
    const char *end = v + strlen(v);
    const char *dash = strrchr(v, '-');
    p->up = v;
    if (dash != NULL) {
        p->up_end = dash;
        p->rev = dash + 1;
        p->rev_end = end;
    } else {
        p->up_end = end;
        p->rev = p->rev_end = end;
    }
}

bool hearth_deb_version_valid(const char *v)
{
    if (v == NULL || v[0] == '\0' || strlen(v) >= HEARTH_SBOM_STR_MAX) return false;
    const char *colon = strchr(v, ':');
    const char *up = v;
    if (colon != NULL) {
        if (colon == v || colon - v > 9) return false;
        for (const char *q = v; q < colon; q++)
            if (*q < '0' || *q > '9') return false;
        up = colon + 1;
    }
    if (!(up[0] >= '0' && up[0] <= '9')) return false;
    for (const char *q = up; *q; q++) {
        char c = *q;
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              strchr(".+-~:", c) != NULL))
            return false;
    }
    return true;
}

int hearth_deb_version_cmp(const char *a, const char *b)
{
    parts pa, pb;
    split(a, &pa);
    split(b, &pb);
    if (pa.epoch != pb.epoch) return pa.epoch < pb.epoch ? -1 : 1;
    int r = verrevcmp(pa.up, pa.up_end, pb.up, pb.up_end);
    if (r) return r;
    return verrevcmp(pa.rev, pa.rev_end, pb.rev, pb.rev_end);
}
