/*
 * Matching an SBOM against vulnerability feeds (include/hearth/vuln.h):
 * OSV records for Debian source packages, and CSAF 2.0 product statements
 * (VEX) by purl. Runs on the manufacturer's side (`hearth vuln check`) on
 * files it was handed, so sizes are bounded and every member is type-checked
 * before use; a member of the wrong type makes an entry not match, never
 * crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hearth/util.h"
#include "hearth/vuln.h"

#define FINDINGS_MAX 100000

struct hearth_vuln_feed {
    cJSON *doc;
    bool csaf;
    char tracking[HEARTH_VULN_ID_MAX];
};

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring != NULL ? v->valuestring : NULL;
}

hearth_status hearth_vuln_feed_load(const char *json, size_t len, hearth_vuln_feed **out)
{
    *out = NULL;
    HEARTH_ENSURE(len <= HEARTH_VULN_FEED_MAX,
                  hearth_err(HEARTH_ERR_TOO_LARGE, "feed of %zu bytes (max %u)", len,
                             HEARTH_VULN_FEED_MAX));
    hearth_vuln_feed *f = calloc(1, sizeof *f);
    HEARTH_ENSURE(f != NULL, hearth_err(HEARTH_ERR_NOMEM, "out of memory"));
    f->doc = cJSON_ParseWithLength(json, len);
    if (f->doc == NULL) {
        free(f);
        return hearth_err(HEARTH_ERR_INVALID, "feed is not JSON");
    }
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(f->doc, "document");
    const char *cv = str(doc, "csaf_version");
    if (cv != NULL) {
        if (strcmp(cv, "2.0") != 0) {
            /* The message first: cv lives in the document freed next. */
            hearth_status st = hearth_err(HEARTH_ERR_UNSUPPORTED, "CSAF version %.16s (only 2.0)", cv);
            hearth_vuln_feed_free(f);
            return st;
        }
        f->csaf = true;
        const char *tid = str(cJSON_GetObjectItemCaseSensitive(doc, "tracking"), "id");
        snprintf(f->tracking, sizeof f->tracking, "%s", tid != NULL ? tid : "(no tracking id)");
    } else if (!cJSON_IsArray(f->doc) && !cJSON_IsObject(f->doc)) {
        hearth_vuln_feed_free(f);
        return hearth_err(HEARTH_ERR_INVALID, "feed is neither OSV nor CSAF 2.0");
    }
    *out = f;
    return HEARTH_OK;
}

void hearth_vuln_feed_free(hearth_vuln_feed *f)
{
    if (f == NULL) return;
    cJSON_Delete(f->doc);
    free(f);
}

const char *hearth_vuln_feed_kind(const hearth_vuln_feed *f)
{
    return f->csaf ? "CSAF" : "OSV";
}

bool hearth_vuln_finding_names(const hearth_vuln_finding *f, const char *id)
{
    if (strcmp(f->id, id) == 0) return true;
    for (size_t i = 0; i < 4; i++)
        if (f->aliases[i][0] != '\0' && strcmp(f->aliases[i], id) == 0) return true;
    return false;
}

typedef struct {
    hearth_vuln_finding *v;
    size_t n, cap;
} findings;

static hearth_vuln_finding *add_finding(findings *fs)
{
    if (fs->n == fs->cap) {
        if (fs->cap >= FINDINGS_MAX) return NULL;
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        hearth_vuln_finding *nv = realloc(fs->v, cap * sizeof *nv);
        if (nv == NULL) return NULL;
        fs->v = nv;
        fs->cap = cap;
    }
    hearth_vuln_finding *f = &fs->v[fs->n++];
    memset(f, 0, sizeof *f);
    return f;
}

/* ---------------------------------------------------------------- OSV */

/* "Debian" or "Debian:N"; with N, it must be the SBOM's distro ("debian-N"). */
static bool ecosystem_ok(const char *eco, const char *distro)
{
    if (eco == NULL || strncmp(eco, "Debian", 6) != 0) return false;
    if (eco[6] == '\0') return true;
    if (eco[6] != ':') return false;
    if (distro[0] == '\0' || strncmp(distro, "debian-", 7) != 0) return true;
    return strcmp(eco + 7, distro + 7) == 0;
}

static bool in_ranges(const cJSON *aff, const char *v, char *fixed, size_t fcap)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(aff, "versions"))
    {
        if (cJSON_IsString(x) && strcmp(x->valuestring, v) == 0) return true;
    }
    bool hit = false;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(aff, "ranges"))
    {
        const char *type = str(r, "type");
        if (type == NULL || strcmp(type, "ECOSYSTEM") != 0) continue;
        bool in = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "events"))
        {
            const char *intro = str(e, "introduced"), *fix = str(e, "fixed"),
                       *last = str(e, "last_affected");
            if (intro != NULL && (strcmp(intro, "0") == 0 ||
                                  (hearth_deb_version_valid(intro) &&
                                   hearth_deb_version_cmp(v, intro) >= 0)))
                in = true;
            if (fix != NULL && hearth_deb_version_valid(fix)) {
                if (fixed[0] == '\0' || hearth_deb_version_cmp(v, fix) < 0)
                    snprintf(fixed, fcap, "%s", fix);
                if (hearth_deb_version_cmp(v, fix) >= 0) in = false;
            }
            if (last != NULL && hearth_deb_version_valid(last) && hearth_deb_version_cmp(v, last) > 0)
                in = false;
        }
        hit = hit || in;
    }
    return hit;
}

static hearth_status osv_record(const cJSON *rec, const hearth_sbom_info *info,
                                const hearth_sbom_component *comps, size_t n, findings *fs)
{
    const char *id = str(rec, "id");
    if (id == NULL) return HEARTH_OK;
    const cJSON *aff;
    cJSON_ArrayForEach(aff, cJSON_GetObjectItemCaseSensitive(rec, "affected"))
    {
        const cJSON *pkg = cJSON_GetObjectItemCaseSensitive(aff, "package");
        const char *name = str(pkg, "name");
        if (name == NULL || !ecosystem_ok(str(pkg, "ecosystem"), info->distro)) continue;
        for (size_t i = 0; i < n; i++) {
            const hearth_sbom_component *c = &comps[i];
            if (strncmp(c->purl, "pkg:deb/", 8) != 0) continue;
            const char *v;
            if (strcmp(name, c->source) == 0) v = c->source_version;
            else if (strcmp(name, c->name) == 0) v = c->version;
            else continue;
            if (!hearth_deb_version_valid(v)) continue;
            char fixed[HEARTH_SBOM_STR_MAX] = "";
            if (!in_ranges(aff, v, fixed, sizeof fixed)) continue;
            bool dup = false;
            for (size_t k = 0; k < fs->n; k++)
                if (fs->v[k].component == i && strcmp(fs->v[k].id, id) == 0) dup = true;
            if (dup) continue;
            hearth_vuln_finding *f = add_finding(fs);
            HEARTH_ENSURE(f != NULL, hearth_err(HEARTH_ERR_TOO_LARGE, "more than %d findings",
                                                FINDINGS_MAX));
            f->component = i;
            snprintf(f->id, sizeof f->id, "%s", id);
            snprintf(f->source, sizeof f->source, "%s", id);
            snprintf(f->fixed, sizeof f->fixed, "%s", fixed);
            const cJSON *aliases = cJSON_GetObjectItemCaseSensitive(rec, "aliases");
            for (int ai = 0; ai < 4; ai++) {
                const cJSON *al = cJSON_GetArrayItem(aliases, ai);
                if (cJSON_IsString(al))
                    snprintf(f->aliases[ai], HEARTH_VULN_ID_MAX, "%s", al->valuestring);
            }
            f->state = HEARTH_VULN_AFFECTED;
        }
    }
    return HEARTH_OK;
}

static hearth_status osv_feed(const hearth_vuln_feed *feed, const hearth_sbom_info *info,
                              const hearth_sbom_component *comps, size_t n, findings *fs)
{
    const cJSON *root = feed->doc;
    const cJSON *list = cJSON_IsArray(root) ? root : cJSON_GetObjectItemCaseSensitive(root, "vulns");
    if (list == NULL) return osv_record(root, info, comps, n, fs);
    const cJSON *rec;
    cJSON_ArrayForEach(rec, list) HEARTH_GUARD(osv_record(rec, info, comps, n, fs));
    return HEARTH_OK;
}

/* --------------------------------------------------------------- CSAF */

/* purl without qualifiers and subpath, "%3A" decoded to ':'. */
static void purl_core(const char *p, char *out, size_t cap)
{
    size_t o = 0;
    for (; *p && *p != '?' && *p != '#' && o + 1 < cap; p++) {
        if (strncmp(p, "%3A", 3) == 0 || strncmp(p, "%3a", 3) == 0) {
            out[o++] = ':';
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* A CSAF purl with a version matches that version; one without, every version. */
static bool purl_match(const char *csaf, const char *comp)
{
    char a[HEARTH_SBOM_PURL_MAX], b[HEARTH_SBOM_PURL_MAX];
    purl_core(csaf, a, sizeof a);
    purl_core(comp, b, sizeof b);
    if (a[0] == '\0' || b[0] == '\0') return false;
    if (strchr(a, '@') != NULL) return strcmp(a, b) == 0;
    size_t al = strlen(a);
    return strncmp(a, b, al) == 0 && b[al] == '@';
}

/* The purl of product @p pid anywhere in the product tree (branches, full_product_names).
 * Recursion bounded: at most 30 levels of branches. */
// NOLINTNEXTLINE(misc-no-recursion)
static const char *product_purl(const cJSON *node, const char *pid, int depth)
{
    if (node == NULL || depth > 30) return NULL;
    const cJSON *prod = cJSON_GetObjectItemCaseSensitive(node, "product");
    const char *id = str(prod, "product_id");
    if (id != NULL && strcmp(id, pid) == 0)
        return str(cJSON_GetObjectItemCaseSensitive(prod, "product_identification_helper"), "purl");
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(node, "full_product_names"))
    {
        const char *fid = str(x, "product_id");
        if (fid != NULL && strcmp(fid, pid) == 0)
            return str(cJSON_GetObjectItemCaseSensitive(x, "product_identification_helper"), "purl");
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(node, "branches"))
    {
        const char *p = product_purl(x, pid, depth + 1);
        if (p != NULL) return p;
    }
    return NULL;
}

static const char *vuln_id(const cJSON *v)
{
    const char *cve = str(v, "cve");
    if (cve != NULL) return cve;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(v, "ids");
    return str(cJSON_GetArrayItem(ids, 0), "text");
}

static void flag_label(const cJSON *v, const char *pid, char *out, size_t cap)
{
    const cJSON *fl;
    cJSON_ArrayForEach(fl, cJSON_GetObjectItemCaseSensitive(v, "flags"))
    {
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(fl, "product_ids"))
        {
            if (cJSON_IsString(p) && strcmp(p->valuestring, pid) == 0 && str(fl, "label") != NULL) {
                snprintf(out, cap, "%s", str(fl, "label"));
                return;
            }
        }
    }
}

/* Pass 1 (@p suppress false): known_affected and under_investigation add
 * findings. Pass 2 (true): known_not_affected and fixed suppress them. */
static hearth_status csaf_feed(const hearth_vuln_feed *feed, bool suppress,
                               const hearth_sbom_component *comps, size_t n, findings *fs)
{
    static const struct {
        const char *key;
        hearth_vuln_state state;
        bool suppress;
    } cats[] = {{"known_affected", HEARTH_VULN_AFFECTED, false},
                {"under_investigation", HEARTH_VULN_UNDER_INVESTIGATION, false},
                {"known_not_affected", HEARTH_VULN_NOT_AFFECTED, true},
                {"fixed", HEARTH_VULN_FIXED, true}};
    const cJSON *tree = cJSON_GetObjectItemCaseSensitive(feed->doc, "product_tree");
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(feed->doc, "vulnerabilities"))
    {
        const char *id = vuln_id(v);
        if (id == NULL) continue;
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(v, "product_status");
        for (size_t c = 0; c < sizeof cats / sizeof cats[0]; c++) {
            if (cats[c].suppress != suppress) continue;
            const cJSON *pid;
            cJSON_ArrayForEach(pid, cJSON_GetObjectItemCaseSensitive(ps, cats[c].key))
            {
                if (!cJSON_IsString(pid)) continue;
                const char *purl = product_purl(tree, pid->valuestring, 0);
                if (purl == NULL) continue;
                for (size_t i = 0; i < n; i++) {
                    if (!purl_match(purl, comps[i].purl)) continue;
                    hearth_vuln_finding *hit = NULL;
                    for (size_t k = 0; k < fs->n; k++)
                        if (fs->v[k].component == i && hearth_vuln_finding_names(&fs->v[k], id))
                            hit = &fs->v[k];
                    if (suppress) {
                        if (hit == NULL) continue;
                        hit->state = cats[c].state;
                        snprintf(hit->vex, sizeof hit->vex, "%s", feed->tracking);
                        flag_label(v, pid->valuestring, hit->justification,
                                   sizeof hit->justification);
                        continue;
                    }
                    if (hit != NULL) continue;
                    hearth_vuln_finding *f = add_finding(fs);
                    HEARTH_ENSURE(f != NULL, hearth_err(HEARTH_ERR_TOO_LARGE,
                                                        "more than %d findings", FINDINGS_MAX));
                    f->component = i;
                    snprintf(f->id, sizeof f->id, "%s", id);
                    snprintf(f->source, sizeof f->source, "%s", feed->tracking);
                    f->state = cats[c].state;
                }
            }
        }
    }
    return HEARTH_OK;
}

hearth_status hearth_vuln_match(const hearth_vuln_feed *const *feeds, size_t nfeeds,
                                const hearth_sbom_info *info, const hearth_sbom_component *comps,
                                size_t n, hearth_vuln_finding **out, size_t *nout)
{
    findings fs = {NULL, 0, 0};
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; i < nfeeds && st == HEARTH_OK; i++)
        st = feeds[i]->csaf ? csaf_feed(feeds[i], false, comps, n, &fs)
                            : osv_feed(feeds[i], info, comps, n, &fs);
    for (size_t i = 0; i < nfeeds && st == HEARTH_OK; i++)
        if (feeds[i]->csaf) st = csaf_feed(feeds[i], true, comps, n, &fs);
    if (st != HEARTH_OK) {
        free(fs.v);
        return st;
    }
    *out = fs.v;
    *nout = fs.n;
    return HEARTH_OK;
}
