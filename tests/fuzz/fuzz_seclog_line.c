/* libFuzzer harness for hearth_seclog_line_open (src/util/seclog_fields.c,
 * EN 303 645 5.13-1): a line of events.log, which anyone who can write the
 * state directory can edit, read back for the events API. Beyond "no crash /
 * no sanitizer report" it checks the contract: on success the output is one
 * JSON object (cJSON parses it); a line with no sealed value comes out
 * unchanged; with a key the input was not sealed under, nothing opens and
 * every sealed field is listed as unreadable; on failure nothing is written. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[HEARTH_SECLOG_KEY_LEN] = {7};
    static char line[HEARTH_SECLOG_FILE_LINE_MAX + 64];
    static char out[HEARTH_SECLOG_OPEN_LINE_MAX];
    if (size >= sizeof line) return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    size_t bad = 0;
    out[0] = 'x';
    out[1] = '\0';
    hearth_status st = hearth_seclog_line_open(key, line, out, sizeof out, &bad);
    if (st != HEARTH_OK) {
        check(out[0] == '\0');
        return 0;
    }
    cJSON *j = cJSON_Parse(out);
    check(j != NULL && cJSON_IsObject(j));
    /* The list is the last member (a line may carry its own "unreadable";
     * JSON readers such as the web interface's take the last one). */
    const cJSON *u = NULL, *it;
    cJSON_ArrayForEach(it, j)
    {
        if (it->string != NULL && strcmp(it->string, "unreadable") == 0) u = it;
    }
    if (bad > 0) check(cJSON_IsArray(u) && (size_t)cJSON_GetArraySize(u) == bad);
    cJSON_Delete(j);
    /* Without a key nothing opens: every sealed value is counted. A line
     * with none comes out unchanged. */
    static char out2[HEARTH_SECLOG_OPEN_LINE_MAX];
    size_t sealed = 0;
    check(hearth_seclog_line_open(NULL, line, out2, sizeof out2, &sealed) == HEARTH_OK);
    check(sealed >= bad);
    if (sealed == 0) check(strcmp(line, out) == 0 && strcmp(line, out2) == 0);
    return 0;
}
