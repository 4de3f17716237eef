/*
 * Build-time generator (host tool, not installed): reads the personal-data
 * inventory (docs/privacy/inventory.json, schema in docs/privacy/README.md),
 * checks it, and writes
 *   - the privacy notice (EN 303 645 6-1, 5.8-3) as Markdown, which is
 *     docs/privacy-notice.md's text (a test checks the committed copy),
 *   - a C file with the same notice, the inventory as compact JSON (served
 *     by GET /api/v1/privacy), the notice version (the first 16 hex digits
 *     of the SHA-256 of the inventory file), the purposes whose basis is
 *     consent, and the sensors,
 * so the device, its API and the documentation cannot drift apart.
 *
 *   hearth_privacy_inventory_gen INVENTORY.json OUT.c OUT.md
 */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define TEXT_MAX (64 * 1024)
#define FILE_MAX (256 * 1024)

static gen_text md;

static const cJSON *need_array(const cJSON *o, const char *key, const char *where)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(v)) {
        fprintf(stderr, "privacy inventory_gen: %s: \"%s\" must be an array\n", where, key);
        exit(1);
    }
    return v;
}

static void check_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 32) gen_die("an id must have 1..32 characters", id);
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '_'))
            gen_die("an id may hold only a-z, 0-9 and _", id);
}

static const char *const bases[][2] = {
    {"consent", "your consent (GDPR art. 6(1)(a)); you can withdraw it at any time"},
    {"contract", "needed to provide the device and service you use (GDPR art. 6(1)(b))"},
    {"legal_obligation", "a legal obligation of the manufacturer (GDPR art. 6(1)(c))"},
    {"legitimate_interest", "the legitimate interest in keeping the device and its users secure (GDPR art. 6(1)(f))"},
};

static const char *basis_text(const char *b)
{
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
        if (strcmp(b, bases[i][0]) == 0) return bases[i][1];
    gen_die("unknown legal basis", b);
    return NULL;
}

static const cJSON *find_purpose(const cJSON *purposes, const char *id)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, purposes)
    {
        if (strcmp(gen_need_str(p, "id", "purpose"), id) == 0) return p;
    }
    return NULL;
}

static void c_string(FILE *f, const char *s)
{
    gen_c_string(f, s, strlen(s));
}

static void list_md(const cJSON *arr)
{
    const cJSON *e;
    size_t n = 0;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e)) gen_die("list entries must be strings", NULL);
        gen_text_add(&md, "%s%s", n++ ? "; " : "", e->valuestring);
    }
    if (n == 0) gen_text_add(&md, "nobody");
}

int main(int argc, char **argv)
{
    gen_set_name("privacy inventory_gen");
    gen_text_init(&md, TEXT_MAX, "the privacy notice");
    if (argc != 4) gen_die("usage: hearth_privacy_inventory_gen INVENTORY.json OUT.c OUT.md", NULL);
    size_t rl = 0;
    char *raw = gen_read_file(argv[1], FILE_MAX, &rl);
    unsigned char dig[32];
    unsigned int dl = 0;
    if (EVP_Digest(raw, rl, dig, &dl, EVP_sha256(), NULL) != 1 || dl != 32) gen_die("SHA-256 failed", NULL);
    char version[17];
    for (int i = 0; i < 8; i++) snprintf(version + 2 * i, 3, "%02x", dig[i]);

    cJSON *doc = cJSON_ParseWithLength(raw, rl);
    if (doc == NULL) gen_die("inventory is not valid JSON", argv[1]);
    const char *schema = gen_need_str(doc, "schema", "inventory");
    if (strcmp(schema, "hearth-privacy-inventory/v1") != 0) gen_die("unknown schema", schema);
    const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(doc, "controller");
    if (!cJSON_IsObject(ctl)) gen_die("'controller' must be an object", NULL);
    const cJSON *purposes = need_array(doc, "purposes", "inventory");
    const cJSON *items = need_array(doc, "items", "inventory");
    const cJSON *sensors = need_array(doc, "sensors", "inventory");
    const char *not_sensed = gen_need_str(doc, "not_sensed", "inventory");

    gen_text_add(&md, "# Privacy notice\n\n"
           "<!-- Generated from docs/privacy/inventory.json by src/privacy/inventory_gen.c; do not edit. -->\n\n"
           "Notice version `%s` (the first 16 hex digits of the SHA-256 of the inventory). The device "
           "serves this notice at `GET /api/v1/privacy` and records this version with every consent.\n\n"
           "Controller: %s. Contact: %s.\n\n",
           version, gen_need_str(ctl, "name", "controller"), gen_need_str(ctl, "contact", "controller"));

    gen_text_add(&md, "## Why personal data is processed\n\n| purpose | what for | legal basis |\n| --- | --- | --- |\n");
    const cJSON *p;
    size_t nconsent = 0;
    cJSON_ArrayForEach(p, purposes)
    {
        const char *id = gen_need_str(p, "id", "purpose");
        check_id(id);
        const char *basis = gen_need_str(p, "basis", id);
        gen_text_add(&md, "| `%s`: %s | %s | %s |\n", id, gen_need_str(p, "title", id), gen_need_str(p, "description", id),
               basis_text(basis));
        if (strcmp(basis, "consent") == 0) nconsent++;
    }
    gen_text_add(&md, "\n## What the device and its service hold\n\n");
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const char *id = gen_need_str(it, "id", "item");
        check_id(id);
        const char *pid = gen_need_str(it, "purpose", id);
        const cJSON *pp = find_purpose(purposes, pid);
        if (pp == NULL) gen_die("item names an unknown purpose", pid);
        const cJSON *personal = cJSON_GetObjectItemCaseSensitive(it, "personal");
        if (!cJSON_IsBool(personal)) gen_die("'personal' must be true or false", id);
        gen_text_add(&md, "### %s (`%s`)\n\n", gen_need_str(it, "title", id), id);
        gen_text_add(&md, "- Personal data: %s\n", cJSON_IsTrue(personal) ? "yes" : "no");
        gen_text_add(&md, "- Purpose: %s (`%s`); basis: %s\n", gen_need_str(pp, "title", pid), pid,
               basis_text(gen_need_str(pp, "basis", pid)));
        gen_text_add(&md, "- Where it is kept: ");
        list_md(need_array(it, "where", id));
        gen_text_add(&md, "\n- Who receives it: ");
        list_md(need_array(it, "recipients", id));
        gen_text_add(&md, "\n- When it leaves the device: %s\n", gen_need_str(it, "leaves_device", id));
        gen_text_add(&md, "- How long it is kept: %s\n\n", gen_need_str(it, "retention", id));
    }
    gen_text_add(&md, "## Consent\n\n"
           "Where the basis is consent, nothing is processed for that purpose before an administrator of the "
           "device gives it (`PUT /api/v1/consents/{purpose}`), and withdrawing it stops the processing at "
           "once: the device stops sending, and tells the service, which deletes what it holds for that "
           "purpose. Each consent is recorded with the user name, the purpose, this notice's version and the "
           "time; `GET /api/v1/consents/receipt` exports a receipt. Purposes that need consent:\n\n");
    cJSON_ArrayForEach(p, purposes)
    {
        if (strcmp(gen_need_str(p, "basis", "purpose"), "consent") == 0)
            gen_text_add(&md, "- `%s`: %s\n", gen_need_str(p, "id", "purpose"), gen_need_str(p, "title", "purpose"));
    }
    gen_text_add(&md, "\n## Sensors (EN 303 645 5.8-3)\n\n| sensor | application | measures | unit | what it is used for | "
           "personal data it produces |\n| --- | --- | --- | --- | --- | --- |\n");
    const cJSON *s;
    cJSON_ArrayForEach(s, sensors)
    {
        const char *id = gen_need_str(s, "id", "sensor");
        check_id(id);
        gen_text_add(&md, "| `%s` | %s | %s | %s | %s | `%s` |\n", id, gen_need_str(s, "app", id), gen_need_str(s, "kind", id),
               gen_need_str(s, "unit", id), gen_need_str(s, "what", id), gen_need_str(s, "personal_data", id));
    }
    gen_text_add(&md, "\n%s\n\n", not_sensed);
    gen_text_add(&md, "## Erasing your data\n\n"
           "- One user: `DELETE /api/v1/users/{name}` (an administrator) erases the account, its sessions and "
           "withdraws the consents that user gave.\n"
           "- At the service: `POST /api/v1/privacy/service-erase` (an administrator) sends the service a "
           "request signed with the device key; the service deletes the device's personal data and returns a "
           "receipt signed with its key, which the device checks and shows at `GET "
           "/api/v1/privacy/service-erase`. Without a connection the request waits on the device and is sent "
           "when it is back.\n"
           "- Everything on the device: the factory reset (docs/erasure.md).\n");

    FILE *fo = fopen(argv[3], "wb");
    if (fo == NULL || fwrite(md.buf, 1, md.len, fo) != md.len || fclose(fo) != 0) gen_die("cannot write", argv[3]);

    char *compact = cJSON_PrintUnformatted(doc);
    if (compact == NULL) gen_die("out of memory", NULL);
    FILE *fc = fopen(argv[2], "wb");
    if (fc == NULL) gen_die("cannot write", argv[2]);
    fprintf(fc, "/* Generated from docs/privacy/inventory.json by inventory_gen.c; do not edit. */\n"
                "#include \"privacy_internal.h\"\n\n"
                "const char pv_notice_version[] = \"%s\";\n\nconst char pv_notice_md[] =\n    ",
            version);
    c_string(fc, md.buf);
    (void)fputs(";\n\nconst char pv_inventory_json[] =\n    ", fc);
    c_string(fc, compact);
    (void)fputs(";\n\nconst pv_purpose pv_purposes[] = {\n", fc);
    size_t np = 0;
    cJSON_ArrayForEach(p, purposes)
    {
        (void)fputs("    {", fc);
        c_string(fc, gen_need_str(p, "id", "purpose"));
        (void)fputs(", ", fc);
        c_string(fc, gen_need_str(p, "title", "purpose"));
        (void)fputs(", ", fc);
        c_string(fc, gen_need_str(p, "basis", "purpose"));
        (void)fputs("},\n", fc);
        np++;
    }
    fprintf(fc, "};\nconst size_t pv_n_purposes = %zu;\n\nconst pv_sensor pv_sensors[] = {\n", np);
    size_t ns = 0;
    cJSON_ArrayForEach(s, sensors)
    {
        (void)fputs("    {", fc);
        c_string(fc, gen_need_str(s, "id", "sensor"));
        (void)fputs(", ", fc);
        c_string(fc, gen_need_str(s, "app", "sensor"));
        (void)fputs(", ", fc);
        c_string(fc, gen_need_str(s, "kind", "sensor"));
        (void)fputs(", ", fc);
        c_string(fc, gen_need_str(s, "unit", "sensor"));
        (void)fputs(", ", fc);
        c_string(fc, gen_need_str(s, "what", "sensor"));
        (void)fputs("},\n", fc);
        ns++;
    }
    fprintf(fc, "    {NULL, NULL, NULL, NULL, NULL},\n};\nconst size_t pv_n_sensors = %zu;\n", ns);
    if (ferror(fc) != 0 || fclose(fc) != 0) gen_die("cannot write", argv[2]);
    cJSON_free(compact);
    cJSON_Delete(doc);
    free(raw);
    free(md.buf);
    (void)nconsent;
    return 0;
}
