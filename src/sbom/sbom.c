/*
 * CycloneDX 1.6 JSON: building the SBOM of a release and reading one back
 * (include/hearth/sbom.h, docs/sbom.md). An SBOM read back may come from a
 * bundle or a file a manufacturer was handed, so the reader is bounded:
 * size, component count and every string used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "hearth/sbom.h"
#include "hearth/util.h"

hearth_status hearth_sbom_deb_purl(const char *name, const char *version, const char *arch,
                                   const char *distro, char *out, size_t cap)
{
    char ver[3 * HEARTH_SBOM_STR_MAX];
    size_t o = 0;
    for (const char *p = version; *p && o + 4 < sizeof ver; p++) {
        char c = *p;
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            c == '.' || c == '-' || c == '_' || c == '~') {
            ver[o++] = c;
        } else {
            o += (size_t)snprintf(ver + o, sizeof ver - o, "%%%02X", (unsigned char)c);
        }
    }
    ver[o] = '\0';
    int n = snprintf(out, cap, "pkg:deb/debian/%s@%s?arch=%s%s%s", name, ver, arch,
                     distro[0] ? "&distro=" : "", distro);
    if (n < 0 || (size_t)n >= cap)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "purl of %s does not fit %zu bytes", name, cap);
    return HEARTH_OK;
}

static cJSON *entity(const char *name)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    return o;
}

static void add_prop(cJSON *props, const char *name, const char *value)
{
    if (value[0] == '\0') return;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddStringToObject(p, "value", value);
    cJSON_AddItemToArray(props, p);
}

static void ref_of(const hearth_sbom_component *c, char *out, size_t cap)
{
    if (c->sha256[0] != '\0' || c->purl[0] == '\0')
        snprintf(out, cap, "program:%s", c->name);
    else
        snprintf(out, cap, "%s", c->purl);
}

hearth_status hearth_sbom_build(const hearth_sbom_spec *spec, char **out, size_t *len)
{
    HEARTH_ENSURE(spec != NULL && out != NULL && len != NULL && spec->n >= 1 &&
                      spec->n <= HEARTH_SBOM_COMPONENTS_MAX && spec->serial != NULL,
                  hearth_err(HEARTH_ERR_INVALID, "sbom: 1..%d components needed",
                             HEARTH_SBOM_COMPONENTS_MAX));
    char ts[32], uuid[48];
    time_t t = (time_t)spec->timestamp;
    struct tm tm;
    HEARTH_ENSURE(gmtime_r(&t, &tm) != NULL &&
                      strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm) != 0,
                  hearth_err(HEARTH_ERR_INVALID, "sbom: bad timestamp"));
    uint8_t u[16];
    memcpy(u, spec->serial, 16);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(uuid, sizeof uuid,
             "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);

    cJSON *bom = cJSON_CreateObject();
    cJSON_AddStringToObject(bom, "bomFormat", "CycloneDX");
    cJSON_AddStringToObject(bom, "specVersion", "1.6");
    cJSON_AddStringToObject(bom, "serialNumber", uuid);
    cJSON_AddNumberToObject(bom, "version", 1);
    cJSON *md = cJSON_AddObjectToObject(bom, "metadata");
    cJSON_AddStringToObject(md, "timestamp", ts);
    cJSON *tools = cJSON_AddArrayToObject(cJSON_AddObjectToObject(md, "tools"), "components");
    cJSON *tool = cJSON_CreateObject();
    cJSON_AddStringToObject(tool, "type", "application");
    cJSON_AddStringToObject(tool, "name", "hearth sbom generate");
    cJSON_AddStringToObject(tool, "version", hearth_version());
    cJSON_AddItemToArray(tools, tool);
    cJSON *rel = cJSON_AddObjectToObject(md, "component");
    cJSON_AddStringToObject(rel, "type", "application");
    cJSON_AddStringToObject(rel, "bom-ref", "release");
    cJSON_AddItemToObject(rel, "supplier", entity(spec->supplier));
    cJSON_AddStringToObject(rel, "name", spec->product);
    cJSON_AddStringToObject(rel, "version", spec->version);
    cJSON_AddItemToObject(md, "manufacturer", entity(spec->supplier));
    cJSON_AddItemToObject(md, "supplier", entity(spec->supplier));

    cJSON *comps = cJSON_AddArrayToObject(bom, "components");
    cJSON *deps = cJSON_AddArrayToObject(bom, "dependencies");
    cJSON *rel_dep = cJSON_CreateObject();
    cJSON_AddStringToObject(rel_dep, "ref", "release");
    cJSON *rel_on = cJSON_AddArrayToObject(rel_dep, "dependsOn");
    cJSON_AddItemToArray(deps, rel_dep);
    for (size_t i = 0; i < spec->n; i++) {
        const hearth_sbom_component *c = &spec->components[i];
        char ref[HEARTH_SBOM_PURL_MAX + 16];
        ref_of(c, ref, sizeof ref);
        cJSON *o = cJSON_CreateObject();
        bool program = c->sha256[0] != '\0';
        cJSON_AddStringToObject(o, "type", program ? "application" : "library");
        cJSON_AddStringToObject(o, "bom-ref", ref);
        if (program) cJSON_AddItemToObject(o, "supplier", entity(spec->supplier));
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddStringToObject(o, "version", c->version);
        if (program) {
            cJSON *hashes = cJSON_AddArrayToObject(o, "hashes");
            cJSON *h = cJSON_CreateObject();
            cJSON_AddStringToObject(h, "alg", "SHA-256");
            cJSON_AddStringToObject(h, "content", c->sha256);
            cJSON_AddItemToArray(hashes, h);
            cJSON_AddItemToArray(rel_on, cJSON_CreateString(ref));
        }
        if (c->purl[0] != '\0') cJSON_AddStringToObject(o, "purl", c->purl);
        if (c->source[0] != '\0') {
            cJSON *props = cJSON_AddArrayToObject(o, "properties");
            add_prop(props, "hearth:deb:source", c->source);
            add_prop(props, "hearth:deb:source-version", c->source_version);
            add_prop(props, "hearth:deb:arch", c->arch);
        }
        cJSON_AddItemToArray(comps, o);
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "ref", ref);
        cJSON *on = cJSON_AddArrayToObject(d, "dependsOn");
        for (size_t j = 0; j < spec->n && j < 64; j++) {
            if (!(c->depends & (UINT64_C(1) << j))) continue;
            char dref[HEARTH_SBOM_PURL_MAX + 16];
            ref_of(&spec->components[j], dref, sizeof dref);
            cJSON_AddItemToArray(on, cJSON_CreateString(dref));
        }
        cJSON_AddItemToArray(deps, d);
    }
    char *text = cJSON_Print(bom);
    cJSON_Delete(bom);
    HEARTH_ENSURE(text != NULL, hearth_err(HEARTH_ERR_NOMEM, "sbom: out of memory"));
    *out = text;
    *len = strlen(text);
    if (*len > HEARTH_SBOM_MAX) {
        free(text);
        *out = NULL;
        return hearth_err(HEARTH_ERR_TOO_LARGE, "sbom: %zu bytes (max %u)", *len, HEARTH_SBOM_MAX);
    }
    return HEARTH_OK;
}

/* A bounded string member, "" when absent; false when present but not a string or too long. */
static bool get_str(const cJSON *o, const char *key, char *out, size_t cap, bool required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    out[0] = '\0';
    if (v == NULL) return !required;
    if (!cJSON_IsString(v) || v->valuestring == NULL || strlen(v->valuestring) >= cap ||
        (required && v->valuestring[0] == '\0'))
        return false;
    snprintf(out, cap, "%s", v->valuestring);
    return true;
}

static hearth_status parse_component(const cJSON *o, size_t i, hearth_sbom_component *c,
                                     char *distro, size_t dcap)
{
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(o) || !get_str(o, "name", c->name, sizeof c->name, true) ||
        !get_str(o, "version", c->version, sizeof c->version, false) ||
        !get_str(o, "purl", c->purl, sizeof c->purl, false))
        return hearth_err(HEARTH_ERR_INVALID,
                          "sbom: component %zu needs a name, and version and purl strings of "
                          "bounded length",
                          i);
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "properties");
    const cJSON *p;
    cJSON_ArrayForEach(p, props)
    {
        char name[64], value[HEARTH_SBOM_STR_MAX];
        if (!get_str(p, "name", name, sizeof name, false) ||
            !get_str(p, "value", value, sizeof value, false))
            continue;
        if (strcmp(name, "hearth:deb:source") == 0) snprintf(c->source, sizeof c->source, "%s", value);
        if (strcmp(name, "hearth:deb:source-version") == 0)
            snprintf(c->source_version, sizeof c->source_version, "%s", value);
        if (strcmp(name, "hearth:deb:arch") == 0) snprintf(c->arch, sizeof c->arch, "%s", value);
    }
    const cJSON *h;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(o, "hashes"))
    {
        char alg[16];
        if (get_str(h, "alg", alg, sizeof alg, false) && strcmp(alg, "SHA-256") == 0)
            (void)get_str(h, "content", c->sha256, sizeof c->sha256, false);
    }
    if (strncmp(c->purl, "pkg:deb/", 8) == 0) {
        if (c->source[0] == '\0') snprintf(c->source, sizeof c->source, "%s", c->name);
        if (c->source_version[0] == '\0')
            snprintf(c->source_version, sizeof c->source_version, "%s", c->version);
        const char *d = strstr(c->purl, "distro=");
        if (d != NULL && distro[0] == '\0') {
            size_t n = strcspn(d + 7, "&#");
            if (n < dcap) {
                memcpy(distro, d + 7, n);
                distro[n] = '\0';
            }
        }
    }
    return HEARTH_OK;
}

hearth_status hearth_sbom_parse(const char *json, size_t len, hearth_sbom_info *info,
                                hearth_sbom_component **comps, size_t *n)
{
    *comps = NULL;
    *n = 0;
    memset(info, 0, sizeof *info);
    HEARTH_ENSURE(len <= HEARTH_SBOM_MAX,
                  hearth_err(HEARTH_ERR_TOO_LARGE, "sbom: %zu bytes (max %u)", len, HEARTH_SBOM_MAX));
    cJSON *doc = cJSON_ParseWithLength(json, len);
    HEARTH_ENSURE(doc != NULL, hearth_err(HEARTH_ERR_INVALID, "sbom: not JSON"));
    hearth_status st = HEARTH_OK;
    char fmt[16], spec[8];
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const cJSON *rel = cJSON_GetObjectItemCaseSensitive(md, "component");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, "components");
    if (!cJSON_IsObject(doc) || !get_str(doc, "bomFormat", fmt, sizeof fmt, true) ||
        strcmp(fmt, "CycloneDX") != 0 || !get_str(doc, "specVersion", spec, sizeof spec, true) ||
        strcmp(spec, "1.6") != 0) {
        st = hearth_err(HEARTH_ERR_UNSUPPORTED, "sbom: not a CycloneDX 1.6 document");
    } else if (!cJSON_IsObject(rel) ||
               !get_str(rel, "name", info->product, sizeof info->product, true) ||
               !get_str(rel, "version", info->version, sizeof info->version, true)) {
        st = hearth_err(HEARTH_ERR_INVALID, "sbom: metadata.component needs a name and version");
    } else if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > HEARTH_SBOM_COMPONENTS_MAX) {
        st = hearth_err(HEARTH_ERR_INVALID, "sbom: components must be an array of at most %d",
                        HEARTH_SBOM_COMPONENTS_MAX);
    } else {
        size_t count = (size_t)cJSON_GetArraySize(arr);
        *comps = calloc(count ? count : 1, sizeof **comps);
        if (*comps == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "sbom: out of memory");
        const cJSON *o;
        size_t i = 0;
        cJSON_ArrayForEach(o, arr)
        {
            if (st != HEARTH_OK) break;
            st = parse_component(o, i, &(*comps)[i], info->distro, sizeof info->distro);
            i++;
        }
        if (st == HEARTH_OK) *n = count;
    }
    cJSON_Delete(doc);
    if (st != HEARTH_OK) {
        free(*comps);
        *comps = NULL;
        *n = 0;
    }
    return st;
}

hearth_status hearth_sbom_file_sha256(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    HEARTH_ENSURE(f != NULL, hearth_err(HEARTH_ERR_IO, "cannot open %s", path));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    static __thread uint8_t buf[65536];
    size_t r;
    while (ok && (r = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, r) == 1;
    ok = ok && !ferror(f);
    uint8_t md[32];
    unsigned mdlen = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    (void)fclose(f); /* read only: nothing to flush */
    HEARTH_ENSURE(ok, hearth_err(HEARTH_ERR_IO, "cannot hash %s", path));
    return hearth_hex_encode(md, sizeof md, hex, 65);
}

hearth_status hearth_sbom_check_payloads(const char *json, size_t len, const char *const *names,
                                         const char *const *paths, size_t n)
{
    hearth_sbom_info info;
    hearth_sbom_component *c = NULL;
    size_t nc = 0;
    HEARTH_GUARD(hearth_sbom_parse(json, len, &info, &c, &nc));
    hearth_status st = HEARTH_OK;
    size_t matched = 0;
    for (size_t i = 0; i < nc && st == HEARTH_OK; i++) {
        if (c[i].sha256[0] == '\0') continue;
        for (size_t k = 0; k < n && st == HEARTH_OK; k++) {
            if (strcmp(names[k], c[i].name) != 0) continue;
            char hex[65];
            st = hearth_sbom_file_sha256(paths[k], hex);
            if (st == HEARTH_OK && strcmp(hex, c[i].sha256) != 0)
                st = hearth_err(HEARTH_ERR_INVALID,
                                "the SBOM's %s has SHA-256 %.12s..., the payload %.12s...: the "
                                "SBOM describes other software",
                                c[i].name, c[i].sha256, hex);
            matched++;
        }
    }
    free(c);
    if (st == HEARTH_OK && matched == 0)
        st = hearth_err(HEARTH_ERR_INVALID, "no program of the SBOM is a payload of this bundle");
    return st;
}
