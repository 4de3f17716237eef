/*
 * Vulnerability disclosure and the software bill of materials (EN 303 645
 * 5.2-1, 5.3-13, 5.2-3; docs/vulnerability-disclosure.md, docs/sbom.md):
 *
 *   GET /.well-known/security.txt  public in every state (RFC 9116), built
 *       from the manufacturer's configuration; once its Expires has passed
 *       the device refuses it (503) rather than publish stale contact data,
 *       and logs security_txt_expired once per start.
 *   GET /api/v1/sbom  (user) the CycloneDX SBOM of the running software.
 */
#include <stdatomic.h>
#include <time.h>

#include "api_internal.h"
#include "hearth/util.h"

static atomic_bool expired_logged;

static void route_security_txt(hearth_api_ctx *c)
{
    const hearth_manufacturer *m = c->api->cfg.manufacturer;
    if (m == NULL) {
        hearth_req_error(c, 404, "not_found", NULL,
                         "this device has no disclosure configuration");
        return;
    }
    char txt[HEARTH_SECURITYTXT_MAX];
    size_t len = 0;
    hearth_status st = hearth_securitytxt_render(m, (int64_t)time(NULL), txt, sizeof txt, &len);
    if (st == HEARTH_ERR_EXPIRED) {
        if (!atomic_exchange(&expired_logged, true))
            hearth_seclog(HEARTH_SEV_WARNING, "security_txt_expired", "reason", hearth_err_msg(),
                          NULL);
        hearth_req_error(c, 503, "security_txt_expired", NULL,
                         "this device's security.txt has expired; see the manufacturer's "
                         "published policy");
        return;
    }
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    api_reply_document(c, 200, "text/plain; charset=utf-8", txt, len);
}

static void route_sbom(hearth_api_ctx *c)
{
    const hearth_api_config *cfg = &c->api->cfg;
    if (cfg->sbom == NULL) {
        hearth_req_error(c, 404, "no_sbom", NULL,
                         "the running software carries no SBOM (built without one, or installed "
                         "from a bundle of format 1)");
        return;
    }
    api_reply_document(c, 200, "application/vnd.cyclonedx+json; version=1.6", cfg->sbom,
                       cfg->sbom_len);
}

static const hearth_api_route routes[] = {
    {"GET", "/.well-known/security.txt", HEARTH_ROUTE_OPEN, route_security_txt},
    {"GET", "/api/v1/sbom", 0, route_sbom},
};
HEARTH_API_ROUTE_TABLE(disclosure, routes);
