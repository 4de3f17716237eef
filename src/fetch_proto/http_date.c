/* HTTP-date and Retry-After parsing (RFC 9110 sections 5.6.7 and 10.2.3)
 * for the busy repository's hint that hearth-fetch reports to hearthd
 * (include/hearth/fetch_proto.h). Hand-written and strict: no locale, no
 * time zone database, no libc date parser (hearth-fetch runs with no file
 * access), every field range-checked; the value comes from the network. */
#include <string.h>

#include "hearth/fetch_proto.h"

typedef struct {
    const char *p;
    size_t n, i;
} dcur;

static bool lit(dcur *c, const char *s)
{
    size_t l = strlen(s);
    if (c->n - c->i < l || memcmp(c->p + c->i, s, l) != 0) return false;
    c->i += l;
    return true;
}

/* Exactly @p k digits. */
static bool digits(dcur *c, size_t k, int *out)
{
    if (c->n - c->i < k) return false;
    int v = 0;
    for (size_t j = 0; j < k; j++) {
        char ch = c->p[c->i + j];
        if (ch < '0' || ch > '9') return false;
        v = v * 10 + (ch - '0');
    }
    c->i += k;
    *out = v;
    return true;
}

/* One of @p names (case-sensitive, as the grammar says); its index. */
static bool one_of(dcur *c, const char *const *names, int count, int *idx)
{
    for (int k = 0; k < count; k++)
        if (lit(c, names[k])) {
            *idx = k;
            return true;
        }
    return false;
}

static const char *const k_day3[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const k_dayl[] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                     "Friday", "Saturday", "Sunday"};
static const char *const k_mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static bool time_of_day(dcur *c, int *h, int *m, int *s)
{
    return digits(c, 2, h) && lit(c, ":") && digits(c, 2, m) && lit(c, ":") && digits(c, 2, s) &&
           *h <= 23 && *m <= 59 && *s <= 60; /* 60: a leap second */
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool valid_date(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
    int md = mdays[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) md = 29;
    return d <= md;
}

hearth_status hearth_http_date_parse(const char *v, size_t n, int64_t *t)
{
    HEARTH_ENSURE(v != NULL && t != NULL, HEARTH_ERR_INVALID);
    *t = 0;
    int wd = 0, y = 0, mon = 0, d = 0, h = 0, mi = 0, s = 0;
    bool ok = false;
    dcur c = {v, n, 0};
    if (one_of(&c, k_dayl, 7, &wd) && lit(&c, ", ")) {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        int yy = 0;
        ok = digits(&c, 2, &d) && lit(&c, "-") && one_of(&c, k_mon, 12, &mon) && lit(&c, "-") &&
             digits(&c, 2, &yy) && lit(&c, " ") && time_of_day(&c, &h, &mi, &s) && lit(&c, " GMT");
        y = yy < 70 ? 2000 + yy : 1900 + yy;
    } else {
        c.i = 0;
        if (one_of(&c, k_day3, 7, &wd)) {
            if (lit(&c, ", ")) {
                /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
                ok = digits(&c, 2, &d) && lit(&c, " ") && one_of(&c, k_mon, 12, &mon) && lit(&c, " ") &&
                     digits(&c, 4, &y) && lit(&c, " ") && time_of_day(&c, &h, &mi, &s) && lit(&c, " GMT");
            } else if (lit(&c, " ")) {
                /* asctime: Sun Nov  6 08:49:37 1994 */
                ok = one_of(&c, k_mon, 12, &mon) && lit(&c, " ");
                if (ok && lit(&c, " ")) ok = digits(&c, 1, &d);
                else if (ok) ok = digits(&c, 2, &d);
                ok = ok && lit(&c, " ") && time_of_day(&c, &h, &mi, &s) && lit(&c, " ") && digits(&c, 4, &y);
            }
        }
    }
    if (!ok || c.i != n || !valid_date(y, mon + 1, d)) return hearth_err(HEARTH_ERR_INVALID, "not an HTTP-date");
    *t = days_from_civil(y, mon + 1, d) * 86400 + h * 3600 + mi * 60 + s;
    return HEARTH_OK;
}

hearth_status hearth_http_retry_after_parse(const char *v, size_t n, int64_t now, uint32_t *out_s)
{
    HEARTH_ENSURE(v != NULL && out_s != NULL, HEARTH_ERR_INVALID);
    *out_s = 0;
    if (n > HEARTH_FETCH_HTTP_DATE_MAX) return hearth_err(HEARTH_ERR_INVALID, "Retry-After too long");
    size_t a = 0, b = n;
    while (a < b && (v[a] == ' ' || v[a] == '\t')) a++;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) b--;
    if (a == b) return hearth_err(HEARTH_ERR_INVALID, "empty Retry-After");
    if (v[a] >= '0' && v[a] <= '9') {
        uint64_t s = 0;
        for (size_t i = a; i < b; i++) {
            if (v[i] < '0' || v[i] > '9') return hearth_err(HEARTH_ERR_INVALID, "Retry-After: not a number");
            if (s <= HEARTH_FETCH_RETRY_AFTER_MAX_S) s = s * 10 + (uint64_t)(v[i] - '0');
        }
        *out_s = s > HEARTH_FETCH_RETRY_AFTER_MAX_S ? HEARTH_FETCH_RETRY_AFTER_MAX_S : (uint32_t)s;
        return HEARTH_OK;
    }
    int64_t t = 0;
    if (hearth_http_date_parse(v + a, b - a, &t) != HEARTH_OK)
        return hearth_err(HEARTH_ERR_INVALID, "Retry-After: neither seconds nor an HTTP-date");
    int64_t d = t - now;
    if (d < 0) d = 0;
    *out_s = d > (int64_t)HEARTH_FETCH_RETRY_AFTER_MAX_S ? HEARTH_FETCH_RETRY_AFTER_MAX_S : (uint32_t)d;
    return HEARTH_OK;
}

hearth_status hearth_http_retry_hint(const char *ra, size_t ra_n, const char *date, size_t date_n,
                                     uint32_t *out_s)
{
    HEARTH_ENSURE(ra != NULL && out_s != NULL, HEARTH_ERR_INVALID);
    int64_t now = 0;
    size_t a = 0;
    while (date != NULL && a < date_n && (date[a] == ' ' || date[a] == '\t')) a++;
    if (date == NULL || date_n > HEARTH_FETCH_HTTP_DATE_MAX || hearth_http_date_parse(date + a, date_n - a, &now) != HEARTH_OK)
        now = hearth_time_now();
    hearth_err_clear();
    return hearth_http_retry_after_parse(ra, ra_n, now, out_s);
}
