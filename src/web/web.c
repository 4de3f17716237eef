/* The embedded web interface's lookup and the security headers every reply
 * carries (include/hearth/web.h, docs/web.md). The table is generated at
 * build time from web/ (cmake/EmbedWeb.cmake). */
#include <string.h>

#include "hearth/web.h"
#include "web_assets.h"

const hearth_web_asset *hearth_web_find(const char *path)
{
    if (path == NULL) return NULL;
    for (size_t i = 0; i < hearth_web_assets_count; i++)
        if (strcmp(hearth_web_assets[i].path, path) == 0) return &hearth_web_assets[i];
    return NULL;
}

size_t hearth_web_count(void)
{
    return hearth_web_assets_count;
}

const hearth_web_asset *hearth_web_at(size_t i)
{
    return i < hearth_web_assets_count ? &hearth_web_assets[i] : NULL;
}

bool hearth_web_is_ui_path(const char *path)
{
    return path != NULL && (strcmp(path, "/") == 0 || strncmp(path, "/ui/", 4) == 0);
}

bool hearth_web_etag_match(const char *inm, const char *ours)
{
    if (inm == NULL || ours == NULL) return false;
    size_t el = strlen(ours);
    const char *p = inm;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (*p == '\0') break;
        if (*p == '*') return true;
        size_t n = strcspn(p, ",");
        const char *end = p + n;
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
        /* Weak comparison is what If-None-Match asks for (RFC 9110 13.1.2). */
        const char *cand = p;
        if (n >= 2 && p[0] == 'W' && p[1] == '/') {
            cand += 2;
            n -= 2;
        }
        if (n == el && memcmp(cand, ours, el) == 0) return true;
        p = end;
    }
    return false;
}

static const hearth_web_header security_headers[] = {
    /* HTTPS is the only transport (there is no plaintext listener); the
     * browser is told to keep it that way for this origin. */
    {"Strict-Transport-Security", "max-age=31536000"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
    {"Permissions-Policy", "camera=(), microphone=(), geolocation=(), usb=(), payment=()"},
};

const hearth_web_header *hearth_web_security_headers(size_t *n)
{
    *n = sizeof security_headers / sizeof security_headers[0];
    return security_headers;
}
