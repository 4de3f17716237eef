/**
 * @file web.h
 * @brief The device's local web interface (EN 303 645 5.12-1, 5.12-2,
 *        5.3-11, 5.3-12, 6-1; docs/web.md): static assets compiled into the
 *        program and the security headers every reply of the device carries.
 *
 * The assets (web/: one HTML page, its style sheet and script, an icon) are
 * turned into byte arrays at build time (cmake/EmbedWeb.cmake), so they are
 * part of the program binary in the signed slot that hearth-boot verifies
 * before starting it (5.7-1): there is no file on the device to edit. They
 * are public: they hold no data, and the page shows only the setup and login
 * forms until the person has a session token, which the script keeps in
 * memory only (no cookie, no Web Storage), so there is nothing for a
 * cross-site request to ride on.
 */
#ifndef HEARTH_WEB_H
#define HEARTH_WEB_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One embedded asset. */
typedef struct {
    const char *path;         /**< request path: "/" or "/ui/<name>" */
    const char *content_type; /**< e.g. "text/javascript; charset=utf-8" */
    const char *etag;         /**< strong ETag, quoted: "\"<32 hex>\"" (SHA-256 prefix) */
    const unsigned char *data;
    size_t len;
} hearth_web_asset;

/** One response header. */
typedef struct {
    const char *name;
    const char *value;
} hearth_web_header;

/** The Content-Security-Policy of the pages: nothing inline, nothing from
 *  another origin, no framing. */
#define HEARTH_WEB_CSP                                                                       \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "         \
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/**
 * The asset served at @p path (exact match: no normalisation, so no path
 * can name anything outside the table), or NULL.
 */
const hearth_web_asset *hearth_web_find(const char *path);

/** Number of embedded assets, and the @p i-th (NULL past the end). */
size_t hearth_web_count(void);
const hearth_web_asset *hearth_web_at(size_t i);

/**
 * true if @p path belongs to the web interface's namespace ("/" or
 * "/ui/..."): GET and HEAD there are answered from the table (404 when the
 * asset does not exist), never by the API.
 */
bool hearth_web_is_ui_path(const char *path);

/**
 * true if the If-None-Match header value @p inm names @p ours (our entity tag) (a list of
 * entity tags or "*"): the client's copy is current, answer 304.
 */
bool hearth_web_etag_match(const char *inm, const char *ours);

/**
 * The security headers of every reply, assets and API alike (HSTS,
 * nosniff, Referrer-Policy no-referrer, framing refused, cross-origin
 * isolation). Assets add HEARTH_WEB_CSP; API replies add a CSP of
 * "default-src 'none'" (a JSON body is never a document).
 * @param[out] n  number of headers
 */
const hearth_web_header *hearth_web_security_headers(size_t *n);

#ifdef __cplusplus
}
#endif
#endif
