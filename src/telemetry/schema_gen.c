/*
 * Build-time generator (host tool, not installed): reads the telemetry
 * schema (docs/telemetry/schema-v1.json) and writes
 *   - the disclosure, docs/telemetry.md's text (EN 303 645 6-5), as a
 *     Markdown file and as a C string the device serves
 *     (GET /api/v1/telemetry/disclosure),
 *   - the list of every key path the schema allows (the report test checks
 *     the builder against it),
 *   - which security events feed which counter, and the rules' thresholds,
 * so the code, the served text and the committed document all come from the
 * one data file and cannot drift apart.
 *
 *   hearth_telemetry_schema_gen SCHEMA.json OUT.c OUT.h OUT.md
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define TEXT_MAX (64 * 1024)
#define PATH_MAX_LEN 128

static gen_text md;

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) return NULL;
    return v->valuestring;
}

/* Key paths and counter events collected while walking. */
static char keys[256][PATH_MAX_LEN];
static size_t n_keys;
static char ev_names[64][64], ev_keys[64][16];
static size_t n_ev;

/* Recursive over the schema's nesting, which is the repository's own file
 * (depth 4 today) and checked at build time. */
// NOLINTNEXTLINE(misc-no-recursion)
static void walk(const cJSON *props, const char *short_path, const char *long_path)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, props)
    {
        char sp[PATH_MAX_LEN], lp[256];
        gen_fmt(sp, sizeof sp, "%s%s%s", short_path, short_path[0] ? "." : "", f->string);
        const char *lname = gen_need_str(f, "x-long", sp);
        gen_fmt(lp, sizeof lp, "%s%s%s", long_path, long_path[0] ? "." : "", lname);
        if (n_keys >= sizeof keys / sizeof keys[0]) gen_die("too many keys", NULL);
        gen_fmt(keys[n_keys++], PATH_MAX_LEN, "%s", sp);
        const char *type = gen_need_str(f, "type", sp);
        const char *unit = str_of(f, "x-unit");
        gen_text_add(&md, "| `%s` | %s | %s | %s | %s |\n", sp, lp, unit != NULL ? unit : "-",
               gen_need_str(f, "x-class", sp), gen_need_str(f, "x-why", sp));
        const cJSON *evs = cJSON_GetObjectItemCaseSensitive(f, "x-events");
        const cJSON *e;
        cJSON_ArrayForEach(e, evs)
        {
            if (!cJSON_IsString(e) || n_ev >= 64 || strlen(e->valuestring) >= 64 ||
                strlen(f->string) >= 16)
                gen_die("bad x-events", NULL);
            gen_fmt(ev_names[n_ev], 64, "%s", e->valuestring);
            gen_fmt(ev_keys[n_ev++], 16, "%s", f->string);
        }
        if (strcmp(type, "object") == 0) {
            walk(cJSON_GetObjectItemCaseSensitive(f, "properties"), sp, lp);
        } else if (strcmp(type, "array") == 0) {
            const cJSON *items = cJSON_GetObjectItemCaseSensitive(f, "items");
            char isp[PATH_MAX_LEN], ilp[256];
            gen_fmt(isp, sizeof isp, "%s[]", sp);
            gen_fmt(ilp, sizeof ilp, "%s[]", lp);
            walk(cJSON_GetObjectItemCaseSensitive(items, "properties"), isp, ilp);
        }
    }
}

static void upper(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) dst[i] = (char)toupper((unsigned char)s[i]);
    dst[i] = '\0';
}

int main(int argc, char **argv)
{
    gen_set_name("telemetry schema_gen");
    gen_text_init(&md, TEXT_MAX, "the disclosure");
    if (argc != 5) gen_die("usage: schema_gen SCHEMA.json OUT.c OUT.h OUT.md", NULL);
    size_t text_len = 0;
    char *text = gen_read_file(argv[1], TEXT_MAX, &text_len);
    cJSON *root = cJSON_Parse(text);
    if (root == NULL) gen_die("schema is not valid JSON", NULL);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "x-hearth");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(h, "version");
    if (!cJSON_IsNumber(ver)) gen_die("x-hearth.version missing", NULL);

    gen_text_add(&md, "# Telemetry disclosure (schema telemetry/v%d)\n\n", ver->valueint);
    gen_text_add(&md, "<!-- Generated from docs/telemetry/schema-v1.json by src/telemetry/schema_gen.c at build "
           "time; do not edit (the test unit.telemetry_doc checks this file is current). -->\n\n");
    gen_text_add(&md, "This is what a Hearth device sends to its manufacturer as telemetry, why, how often, "
           "who receives it and how long it is kept (EN 303 645 6-5). The device serves this same "
           "text at `GET /api/v1/telemetry/disclosure`.\n\n");
    gen_text_add(&md, "%s\n\n", gen_need_str(root, "description", "schema"));
    static const char *const sections[][2] = {
        {"purpose", "Why"},           {"recipient", "Who receives it"},
        {"sender", "Who sends it"},   {"topic", "Where it goes"},
        {"interval", "How often"},    {"retention", "How long it is kept"},
        {"identity", "What it is linked to"}, {"personal_data", "Personal data"},
        {"usage", "Optional usage telemetry"},
    };
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        gen_text_add(&md, "**%s.** %s\n\n", sections[i][1], gen_need_str(h, sections[i][0], "x-hearth"));

    gen_text_add(&md, "## What each report holds\n\n"
           "Keys are the short keys sent on the wire; the long name is the Device Defender name "
           "where it has one. Class `security` is always sent; class `usage` only with the "
           "owner's consent.\n\n"
           "| key | long name | unit | class | why it is collected |\n| --- | --- | --- | --- | --- |\n");
    walk(cJSON_GetObjectItemCaseSensitive(root, "properties"), "", "");

    gen_text_add(&md, "\n## Security events that feed the counters\n\n| counter | events of the local "
           "security log it counts |\n| --- | --- |\n");
    for (size_t i = 0; i < n_ev;) {
        gen_text_add(&md, "| `%s` |", ev_keys[i]);
        size_t j = i;
        for (; j < n_ev && strcmp(ev_keys[j], ev_keys[i]) == 0; j++)
            gen_text_add(&md, " %s`%s`", j > i ? ", " : "", ev_names[j]);
        gen_text_add(&md, " |\n");
        i = j;
    }

    gen_text_add(&md, "\n## On-device rules\n\nThe device examines its own telemetry at every sample (EN 303 "
           "645 5.10-1). Each rule raises a security event in the device's log (served by "
           "`GET /api/v1/events`) once per episode, not at every sample; the events go to the "
           "service like every security event.\n\n| event | severity | raised when |\n| --- | --- "
           "| --- |\n");
    FILE *h_out = fopen(argv[3], "w");
    if (h_out == NULL) gen_die("cannot write the header", NULL);
    (void)fputs("/* Generated by src/telemetry/schema_gen.c from docs/telemetry/schema-v1.json. */\n"
          "#ifndef HEARTH_TELEMETRY_SCHEMA_GEN_H\n#define HEARTH_TELEMETRY_SCHEMA_GEN_H\n",
          h_out);
    fprintf(h_out, "#define TM_SCHEMA_VERSION %d\n", ver->valueint);
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(h, "rules"))
    {
        const char *ev = gen_need_str(r, "event", "rule");
        char when[1024];
        gen_fmt(when, sizeof when, "%s", gen_need_str(r, "when", ev));
        const cJSON *p;
        char U[128];
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r, "params"))
        {
            if (!cJSON_IsNumber(p)) gen_die("rule params must be numbers", NULL);
            char name[128], pu[64];
            upper(U, sizeof U, ev);
            upper(pu, sizeof pu, p->string);
            gen_fmt(name, sizeof name, "%s_%s", U, pu);
            fprintf(h_out, "#define TM_%s %d\n", name, p->valueint);
            /* The text names the parameter in capitals: put the value in. */
            char *at = strstr(when, pu);
            while (at != NULL) {
                char rest[1024];
                gen_fmt(rest, sizeof rest, "%s", at + strlen(pu));
                gen_fmt(at, sizeof when - (size_t)(at - when), "%d%s", p->valueint, rest);
                at = strstr(at, pu);
            }
        }
        gen_text_add(&md, "| `%s` | %s | %s |\n", ev, gen_need_str(r, "severity", ev), when);
    }
    (void)fputs("#endif\n", h_out);
    if (fclose(h_out) != 0) gen_die("cannot write the header", NULL);

    FILE *m = fopen(argv[4], "w");
    if (m == NULL || fwrite(md.buf, 1, md.len, m) != md.len || fclose(m) != 0)
        gen_die("cannot write the Markdown file", NULL);

    FILE *c = fopen(argv[2], "w");
    if (c == NULL) gen_die("cannot write the C file", NULL);
    (void)fputs("/* Generated by src/telemetry/schema_gen.c from docs/telemetry/schema-v1.json. */\n"
          "#include <stddef.h>\n#include \"telemetry_internal.h\"\n\n"
          "const char tm_disclosure_md[] =\n",
          c);
    (void)fputs("    ", c);
    gen_c_string(c, md.buf, md.len);
    fprintf(c, ";\nconst size_t tm_disclosure_md_len = %zu;\n\nconst char *const tm_schema_keys[] = {\n",
            md.len);
    for (size_t i = 0; i < n_keys; i++) fprintf(c, "    \"%s\",\n", keys[i]);
    (void)fputs("    NULL};\n\nconst tm_event_map tm_event_maps[] = {\n", c);
    for (size_t i = 0; i < n_ev; i++)
        fprintf(c, "    {\"%s\", \"%s\"},\n", ev_names[i], ev_keys[i]);
    fprintf(c, "};\nconst size_t tm_n_event_maps = %zu;\n", n_ev);
    if (fclose(c) != 0) gen_die("cannot write the C file", NULL);
    cJSON_Delete(root);
    free(text);
    free(md.buf);
    return 0;
}
