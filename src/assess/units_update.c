/*
 * The update-path unit (EN 303 645 5.3-9, 5.3-10; TR 103 621 6.17 examples 1
 * and 3): with an administrator's session and a signing key the device
 * trusts (a test key), upload three bundles built here with the library's
 * bundle writer through the device's local upload route and check that each
 * is refused with the documented error and that the device's update state
 * is unchanged afterwards:
 *   - tampered: signed by the trusted key, then one payload byte flipped;
 *   - foreign key: signed by a key made here, which the device cannot trust;
 *   - older: signed by the trusted key, security version below the running one.
 * The tampered and foreign bundles are otherwise acceptable (the device's own
 * model and hardware id, a higher security version), so a refusal can only
 * come from the integrity or authenticity check. docs/assessment.md.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assess_internal.h"
#include "hearth/bundle.h"
#include "hearth/util.h"

#define UNIT "update-path"
#define PROBE_PAYLOAD 8192u /* two chunks of the smallest chunk size */
#define PROBE_BUNDLE_MAX (64u * 1024u)

/* What GET /api/v1/updates says about what is installed and pending. */
typedef struct {
    char fingerprint[512]; /* installed + pending + restart_required, as the device printed them */
    uint64_t secver;
    char version[HEARTH_BUNDLE_ID_MAX + 1];
} upd_state;

static void json_copy(const cJSON *o, const char *key, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

/* GET /api/v1/updates into @p s; the HTTP status (200 when @p s was filled). */
static int read_state(ax_run *a, ax_resp *r, upd_state *s)
{
    int st = ax_https(a, "GET", "/api/v1/updates", a->token, NULL, r);
    if (st != 200) return st;
    cJSON *o = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *inst = cJSON_GetObjectItemCaseSensitive(o, "installed");
    if (!cJSON_IsObject(inst)) {
        cJSON_Delete(o);
        return -1;
    }
    char *i = cJSON_PrintUnformatted(inst);
    char *p = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o, "pending"));
    const cJSON *rr = cJSON_GetObjectItemCaseSensitive(o, "restart_required");
    snprintf(s->fingerprint, sizeof s->fingerprint, "installed %s pending %s restart_required %s",
             i ? i : "?", p ? p : "?", cJSON_IsTrue(rr) ? "true" : "false");
    cJSON_free(i);
    cJSON_free(p);
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(inst, "security_version");
    s->secver = cJSON_IsNumber(sv) && sv->valuedouble >= 0 ? (uint64_t)sv->valuedouble : 0;
    json_copy(inst, "version", s->version, sizeof s->version);
    cJSON_Delete(o);
    return 200;
}

/* The newest update event's reason in the admin view, for the evidence. */
static void last_reason(const ax_resp *r, char *out, size_t cap)
{
    out[0] = '\0';
    cJSON *o = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "events"), 0);
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(ev, "reason");
    if (cJSON_IsString(why)) snprintf(out, cap, "%.200s", why->valuestring);
    cJSON_Delete(o);
}

typedef struct {
    char dir[128];
    char payload[192];
    char model[HEARTH_BUNDLE_ID_MAX + 1], hw_id[HEARTH_BUNDLE_ID_MAX + 1];
} probe_files;

/* Build bundle @p name signed by @p key (security version @p secver); flip
 * its last byte (a payload byte) when @p tamper. */
static hearth_status build(const probe_files *pf, const char *name, const char *version,
                           uint64_t secver, const hearth_key *key, bool tamper, char *path,
                           size_t cap)
{
    snprintf(path, cap, "%s/%s.hbu", pf->dir, name);
    hearth_bundle_input in = {.name = "assess-probe", .path = pf->payload};
    int64_t now = hearth_time_now();
    hearth_bundle_spec spec = {
        .model = pf->model,
        .hw_id = pf->hw_id,
        .sw_version = version,
        .security_version = secver,
        .created = now,
        .expires = now + 86400,
        .notes = "hearth assess probe bundle: a device must refuse it",
        .mitigates = "",
        .chunk_size = HEARTH_BUNDLE_CHUNK_MIN,
        .payloads = &in,
        .payload_count = 1,
    };
    HEARTH_GUARD(hearth_bundle_create(&spec, path));
    const hearth_key *keys[1] = {key};
    HEARTH_GUARD(hearth_bundle_sign(path, keys, 1));
    if (!tamper) return HEARTH_OK;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return hearth_err(HEARTH_ERR_IO, "open %s: %s", path, strerror(errno));
    struct stat sb;
    unsigned char b = 0;
    bool ok = fstat(fd, &sb) == 0 && sb.st_size > 0 && pread(fd, &b, 1, sb.st_size - 1) == 1;
    b ^= 0xff;
    ok = ok && pwrite(fd, &b, 1, sb.st_size - 1) == 1;
    close(fd);
    return ok ? HEARTH_OK : hearth_err(HEARTH_ERR_IO, "flipping a byte of %s failed", path);
}

/* Upload the bundle at @p path; fills @p p's status and documented flags. */
static void upload(ax_run *a, const char *path, ax_resp *r, hearth_assess_upload_probe *p)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (hearth_fs_read_file(path, PROBE_BUNDLE_MAX, &data, &len) != HEARTH_OK) {
        p->status = -1;
        return;
    }
    p->status = ax_https_body(a, "POST", "/api/v1/updates/upload", a->token,
                              "application/octet-stream", data, len, r);
    free(data);
    cJSON *o = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    p->documented = cJSON_IsString(e) && strcmp(e->valuestring, "update_rejected") == 0;
    cJSON_Delete(o);
}

static void remove_dir(const probe_files *pf)
{
    static const char *const names[] = {"tampered.hbu", "foreign.hbu", "older.hbu", "payload"};
    char path[192];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", pf->dir, names[i]);
        (void)unlink(path);
    }
    (void)rmdir(pf->dir);
}

/* The device's model and hardware id (GET /api/v1/device, admin). */
static int device_ids(ax_run *a, ax_resp *r, probe_files *pf)
{
    int st = ax_https(a, "GET", "/api/v1/device", a->token, NULL, r);
    if (st != 200) return st;
    cJSON *o = cJSON_ParseWithLength(r->body, r->body_len);
    json_copy(o, "model", pf->model, sizeof pf->model);
    json_copy(o, "hw_id", pf->hw_id, sizeof pf->hw_id);
    cJSON_Delete(o);
    return pf->model[0] && pf->hw_id[0] ? 200 : -1;
}

static hearth_status make_payload(probe_files *pf)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(pf->dir, sizeof pf->dir, "%s/hearth-assess.XXXXXX",
             tmp != NULL && tmp[0] == '/' && strlen(tmp) < 80 ? tmp : "/tmp");
    if (mkdtemp(pf->dir) == NULL) return hearth_err(HEARTH_ERR_IO, "mkdtemp: %s", strerror(errno));
    snprintf(pf->payload, sizeof pf->payload, "%s/payload", pf->dir);
    uint8_t junk[PROBE_PAYLOAD];
    HEARTH_GUARD(hearth_random(junk, sizeof junk));
    return hearth_fs_write_atomic(pf->payload, junk, sizeof junk, 0600);
}

static void run_probes(ax_run *a, ax_resp *r, const probe_files *pf, const upd_state *before,
                       const hearth_key *foreign)
{
    hearth_assess_upload_probe p[3] = {{.what = "tampered"}, {.what = "foreign-key"}, {.what = "older"}};
    char path[3][256], reasons[600] = "", ev[HEARTH_ASSESS_EVIDENCE_MAX];
    size_t n = before->secver > 0 ? 3 : 2;
    hearth_status st = build(pf, "tampered", "assess-probe-tampered", before->secver + 1,
                             a->t->bundle_key, true, path[0], sizeof path[0]);
    if (st == HEARTH_OK)
        st = build(pf, "foreign", "assess-probe-foreign", before->secver + 1, foreign, false,
                   path[1], sizeof path[1]);
    if (st == HEARTH_OK && n == 3)
        st = build(pf, "older", "assess-probe-older", before->secver - 1, a->t->bundle_key, false,
                   path[2], sizeof path[2]);
    if (st != HEARTH_OK) {
        hearth_assess_add(a->r, UNIT, HEARTH_VERDICT_INCONCLUSIVE,
                          "building the probe bundles failed: %s (is --bundle-key a private key?)",
                          hearth_err_msg());
        return;
    }
    for (size_t i = 0; i < n; i++) {
        upload(a, path[i], r, &p[i]);
        if (p[i].status == 404 && i == 0) {
            hearth_assess_add(a->r, UNIT, HEARTH_VERDICT_NA,
                              "POST /api/v1/updates/upload answered 404: the device has no local "
                              "upload route");
            return;
        }
        upd_state after;
        p[i].state_known = read_state(a, r, &after) == 200;
        p[i].unchanged = p[i].state_known && strcmp(after.fingerprint, before->fingerprint) == 0;
        char why[220];
        if (p[i].state_known) last_reason(r, why, sizeof why);
        else why[0] = '\0';
        size_t len = strlen(reasons);
        if (why[0] && len + 1 < sizeof reasons)
            snprintf(reasons + len, sizeof reasons - len, "%s%s: \"%s\"", len ? "; " : "", p[i].what, why);
        if (!p[i].unchanged) break; /* a device that took one is not probed further */
    }
    hearth_verdict v = hearth_assess_judge_update(p, n, ev, sizeof ev);
    if (n < 3 && v == HEARTH_VERDICT_PASS) v = HEARTH_VERDICT_INCONCLUSIVE;
    hearth_assess_add(a->r, UNIT, v,
                      "device model %s, hw id %s, installed %s security version %llu; %s%s%s%s%s",
                      pf->model, pf->hw_id, before->version[0] ? before->version : "?",
                      (unsigned long long)before->secver, ev,
                      n < 3 ? "; no older bundle possible below security version 0" : "",
                      reasons[0] ? "; reasons in the admin view: " : "", reasons,
                      a->budget_hit ? "; request budget spent" : "");
}

void ax_unit_update(ax_run *a)
{
    if (a->t->bundle_key == NULL || !hearth_key_is_private(a->t->bundle_key)) {
        hearth_assess_add(a->r, UNIT, HEARTH_VERDICT_INCONCLUSIVE,
                          "no --bundle-key: a signing key the device trusts is needed to build "
                          "bundles that only the checks under test can refuse");
        return;
    }
    if (a->token[0] == '\0') {
        hearth_assess_add(a->r, UNIT, HEARTH_VERDICT_INCONCLUSIVE,
                          "no administrator session (--admin not given or not accepted): uploads "
                          "are for administrators");
        return;
    }
    ax_resp *r = malloc(sizeof *r);
    probe_files pf = {.dir = ""};
    hearth_key *foreign = NULL;
    if (r == NULL) {
        hearth_assess_add(a->r, UNIT, HEARTH_VERDICT_INCONCLUSIVE, "out of memory");
        return;
    }
    upd_state before;
    int ds = device_ids(a, r, &pf);
    int us = ds == 200 ? read_state(a, r, &before) : -1;
    if (ds != 200) {
        hearth_assess_add(a->r, UNIT, HEARTH_VERDICT_INCONCLUSIVE,
                          "GET /api/v1/device answered %d: no model and hardware id to build "
                          "bundles for", ds);
    } else if (us == 404) {
        hearth_assess_add(a->r, UNIT, HEARTH_VERDICT_NA,
                          "GET /api/v1/updates answered 404: the device has no update routes");
    } else if (us != 200) {
        hearth_assess_add(a->r, UNIT, HEARTH_VERDICT_INCONCLUSIVE,
                          "GET /api/v1/updates answered %d: the update state cannot be read", us);
    } else if (make_payload(&pf) != HEARTH_OK ||
               hearth_key_generate(HEARTH_SIG_ED25519, &foreign) != HEARTH_OK) {
        hearth_assess_add(a->r, UNIT, HEARTH_VERDICT_INCONCLUSIVE,
                          "preparing the probe bundles failed: %s", hearth_err_msg());
    } else {
        run_probes(a, r, &pf, &before, foreign);
    }
    hearth_key_free(foreign);
    if (pf.dir[0]) remove_dir(&pf);
    free(r);
}
