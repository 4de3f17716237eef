/* `hearth vuln check`: which components of a release are affected by known
 * vulnerabilities, and which candidate release fixes them (EN 303 645 5.2-3;
 * docs/sbom.md "Monitoring"). The matching is the library's
 * (hearth_vuln_match, include/hearth/vuln.h); this file reads the files and
 * prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli_util.h"
#include "commands.h"
#include "hearth/bundle.h"
#include "hearth/util.h"
#include "hearth/vuln.h"

#define FEEDS_MAX 16
#define CANDIDATES_MAX 16

static void vuln_usage(FILE *f)
{
    fprintf(f,
        "usage: hearth vuln check --sbom FILE|BUNDLE --feed FILE [--feed FILE...]\n"
        "                         [--candidate FILE|BUNDLE ...] [--json]\n\n"
        "Matches the SBOM (a CycloneDX 1.6 file, or the one signed into a bundle)\n"
        "against vulnerability feeds: OSV JSON (ecosystem Debian, source package names)\n"
        "and CSAF 2.0 documents (products by purl; known_not_affected and fixed\n"
        "statements suppress a match: VEX). For each affected component, names the\n"
        "candidate releases (their SBOMs or bundles) in which it is no longer affected.\n"
        "A bundle's signature is not checked here: use 'hearth bundle verify'.\n"
        "Exit: 0 nothing affected, 3 affected or under investigation, 1 error, 2 usage.\n");
}

static int vfail(const char *what)
{
    return cli_fail("vuln", what);
}

typedef struct {
    const char *path;
    hearth_sbom_info info;
    hearth_sbom_component *comps;
    size_t n;
    hearth_vuln_finding *f;
    size_t nf;
} release;

/* An SBOM file, or the SBOM in a bundle's manifest. */
static int load_release(const char *path, release *r)
{
    memset(r, 0, sizeof r[0]);
    r->path = path;
    char magic[8] = {0};
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        fprintf(stderr, "hearth vuln: cannot open %s\n", path);
        return 1;
    }
    size_t got = fread(magic, 1, sizeof magic, fp);
    (void)fclose(fp); /* read only */
    uint8_t *raw = NULL;
    size_t len = 0;
    bool is_bundle = got == sizeof magic && memcmp(magic, "HRTHBNDL", 8) == 0;
    if (!is_bundle && hearth_fs_read_file(path, HEARTH_SBOM_MAX, &raw, &len) != HEARTH_OK)
        return vfail(path);
    hearth_status st;
    if (is_bundle) {
        hearth_bundle *b = NULL;
        if (hearth_bundle_open_unverified(path, &b) != HEARTH_OK) return vfail(path);
        const hearth_manifest *m = hearth_bundle_manifest(b);
        if (m->sbom == NULL) {
            hearth_bundle_free(b);
            fprintf(stderr, "hearth vuln: %s carries no SBOM (made without --sbom)\n", path);
            return 1;
        }
        st = hearth_sbom_parse(m->sbom, m->sbom_len, &r->info, &r->comps, &r->n);
        hearth_bundle_free(b);
    } else {
        st = hearth_sbom_parse((const char *)raw, len, &r->info, &r->comps, &r->n);
        free(raw);
    }
    return st == HEARTH_OK ? 0 : vfail(path);
}

static const char *state_name(hearth_vuln_state s)
{
    switch (s) {
    case HEARTH_VULN_AFFECTED: return "affected";
    case HEARTH_VULN_UNDER_INVESTIGATION: return "under_investigation";
    case HEARTH_VULN_NOT_AFFECTED: return "not_affected";
    case HEARTH_VULN_FIXED: return "fixed";
    }
    return "?";
}

static bool open_state(hearth_vuln_state s)
{
    return s == HEARTH_VULN_AFFECTED || s == HEARTH_VULN_UNDER_INVESTIGATION;
}

/* Is the component of finding @p f (by name) still open for @p f's vulnerability in @p c? */
static bool still_open(const release *cur, const hearth_vuln_finding *f, const release *c)
{
    const char *name = cur->comps[f->component].name;
    for (size_t k = 0; k < c->nf; k++) {
        const hearth_vuln_finding *g = &c->f[k];
        if (strcmp(c->comps[g->component].name, name) == 0 && hearth_vuln_finding_names(g, f->id) &&
            open_state(g->state))
            return true;
    }
    return false;
}

static int vuln_check(int argc, char **argv)
{
    const char *sbom = NULL, *feeds_p[FEEDS_MAX], *cand_p[CANDIDATES_MAX];
    size_t nfeeds = 0, ncand = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) json = true;
        else if (strcmp(a, "--sbom") == 0 && i + 1 < argc) sbom = argv[++i];
        else if (strcmp(a, "--feed") == 0 && i + 1 < argc && nfeeds < FEEDS_MAX) feeds_p[nfeeds++] = argv[++i];
        else if (strcmp(a, "--candidate") == 0 && i + 1 < argc && ncand < CANDIDATES_MAX) cand_p[ncand++] = argv[++i];
        else { vuln_usage(stderr); return 2; }
    }
    if (sbom == NULL || nfeeds == 0) { vuln_usage(stderr); return 2; }

    int rc = 0;
    hearth_vuln_feed *feeds[FEEDS_MAX] = {0};
    release cur, cand[CANDIDATES_MAX];
    memset(&cur, 0, sizeof cur);
    memset(cand, 0, sizeof cand);
    for (size_t i = 0; i < nfeeds && rc == 0; i++) {
        uint8_t *raw = NULL;
        size_t len = 0;
        if (hearth_fs_read_file(feeds_p[i], HEARTH_VULN_FEED_MAX, &raw, &len) != HEARTH_OK ||
            hearth_vuln_feed_load((const char *)raw, len, &feeds[i]) != HEARTH_OK)
            rc = vfail(feeds_p[i]);
        free(raw);
    }
    if (rc == 0) rc = load_release(sbom, &cur);
    for (size_t i = 0; i < ncand && rc == 0; i++) rc = load_release(cand_p[i], &cand[i]);
    const hearth_vuln_feed *const *fv = (const hearth_vuln_feed *const *)feeds;
    if (rc == 0 && hearth_vuln_match(fv, nfeeds, &cur.info, cur.comps, cur.n, &cur.f, &cur.nf) != HEARTH_OK)
        rc = vfail("match");
    for (size_t i = 0; i < ncand && rc == 0; i++)
        if (hearth_vuln_match(fv, nfeeds, &cand[i].info, cand[i].comps, cand[i].n, &cand[i].f,
                              &cand[i].nf) != HEARTH_OK)
            rc = vfail(cand_p[i]);
    if (rc != 0) goto out;

    size_t n_open = 0, n_sup = 0;
    cJSON *doc = cJSON_CreateObject(), *arr = NULL;
    cJSON *rel = cJSON_AddObjectToObject(doc, "sbom");
    cJSON_AddStringToObject(rel, "product", cur.info.product);
    cJSON_AddStringToObject(rel, "version", cur.info.version);
    cJSON_AddNumberToObject(rel, "components", (double)cur.n);
    arr = cJSON_AddArrayToObject(doc, "findings");
    if (!json) {
        printf("SBOM %s: %s %s, %zu components; feeds:", sbom, cur.info.product, cur.info.version, cur.n);
        for (size_t i = 0; i < nfeeds; i++) printf(" %s (%s)", feeds_p[i], hearth_vuln_feed_kind(feeds[i]));
        printf("\n");
    }
    for (size_t k = 0; k < cur.nf; k++) {
        const hearth_vuln_finding *f = &cur.f[k];
        const hearth_sbom_component *c = &cur.comps[f->component];
        bool open = open_state(f->state);
        n_open += open;
        n_sup += !open;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "component", c->name);
        cJSON_AddStringToObject(o, "version", c->version);
        cJSON_AddStringToObject(o, "purl", c->purl);
        cJSON_AddStringToObject(o, "id", f->id);
        cJSON *al = cJSON_AddArrayToObject(o, "aliases");
        for (size_t a = 0; a < 4; a++)
            if (f->aliases[a][0]) cJSON_AddItemToArray(al, cJSON_CreateString(f->aliases[a]));
        cJSON_AddStringToObject(o, "state", state_name(f->state));
        cJSON_AddStringToObject(o, "source", f->source);
        if (f->fixed[0]) cJSON_AddStringToObject(o, "fixed_version", f->fixed);
        if (f->vex[0]) cJSON_AddStringToObject(o, "vex", f->vex);
        if (f->justification[0]) cJSON_AddStringToObject(o, "justification", f->justification);
        cJSON *by = cJSON_AddArrayToObject(o, "fixed_by");
        char fixed_by[512] = "";
        for (size_t i = 0; open && i < ncand; i++) {
            if (still_open(&cur, f, &cand[i])) continue;
            cJSON_AddItemToArray(by, cJSON_CreateString(cand[i].info.version));
            size_t l = strlen(fixed_by);
            snprintf(fixed_by + l, sizeof fixed_by - l, "%s%s %s (%s)", l ? ", " : "",
                     cand[i].info.product, cand[i].info.version, cand_p[i]);
        }
        cJSON_AddItemToArray(arr, o);
        if (json) continue;
        printf("%-19s %s %s (source %s %s): %s", state_name(f->state), c->name, c->version,
               c->source[0] ? c->source : "-", c->source_version[0] ? c->source_version : "", f->id);
        if (f->aliases[0][0]) printf(" (%s)", f->aliases[0]);
        if (f->fixed[0]) printf("; fixed upstream in %s", f->fixed);
        if (f->vex[0])
            printf("; VEX %s%s%s", f->vex, f->justification[0] ? ": " : "", f->justification);
        if (open) printf("; fixed by: %s", fixed_by[0] ? fixed_by : "no candidate given fixes it");
        printf("\n");
    }
    cJSON *sum = cJSON_AddObjectToObject(doc, "summary");
    cJSON_AddNumberToObject(sum, "open", (double)n_open);
    cJSON_AddNumberToObject(sum, "suppressed", (double)n_sup);
    if (json) {
        char *text = cJSON_Print(doc);
        if (text != NULL) printf("%s\n", text);
        free(text);
    } else {
        printf("summary: %zu affected or under investigation, %zu suppressed by VEX\n", n_open, n_sup);
    }
    cJSON_Delete(doc);
    rc = n_open ? 3 : 0;
out:
    for (size_t i = 0; i < nfeeds; i++) hearth_vuln_feed_free(feeds[i]);
    free(cur.comps);
    free(cur.f);
    for (size_t i = 0; i < ncand; i++) {
        free(cand[i].comps);
        free(cand[i].f);
    }
    return rc;
}

int hearth_cmd_vuln(int argc, char **argv)
{
    static const cli_sub subs[] = {{"check", vuln_check}};
    return cli_dispatch("vuln", vuln_usage, subs, sizeof subs / sizeof subs[0], argc, argv);
}
