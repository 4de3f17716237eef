/* Request-id memory (hearth/link.h): the last HEARTH_LINK_REQIDS_KEPT
 * command ids with their replies, persisted in the secure store (encrypted
 * and authenticated there), so a command the broker delivers again, even
 * after a restart, is answered with the recorded reply and not executed
 * twice. Record format (little endian): "HLR1", count (u8), then per entry
 * id length (u8), id, status (u16), body length (u16), body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/link.h"
#include "hearth/util.h"

#define MAGIC "HLR1"
#define ENTRY_MAX (1 + HEARTH_LINK_REQID_MAX + 2 + 2 + HEARTH_LINK_REPLY_KEPT_MAX)
#define RECORD_MAX (4 + 1 + HEARTH_LINK_REQIDS_KEPT * ENTRY_MAX)

typedef struct {
    char id[HEARTH_LINK_REQID_MAX + 1];
    int status;
    char body[HEARTH_LINK_REPLY_KEPT_MAX + 1];
} entry;

struct hearth_link_reqids {
    hearth_store *store;
    entry e[HEARTH_LINK_REQIDS_KEPT]; /* ring, oldest at head */
    size_t head, count;
};

static bool id_ok(const char *id, size_t n)
{
    if (n == 0 || n > HEARTH_LINK_REQID_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

static hearth_status decode(hearth_link_reqids *r, const uint8_t *b, size_t n)
{
    if (n < 5 || memcmp(b, MAGIC, 4) != 0 || b[4] > HEARTH_LINK_REQIDS_KEPT)
        return hearth_err(HEARTH_ERR_TAMPERED, "request-id memory: bad record");
    size_t cnt = b[4], o = 5;
    for (size_t i = 0; i < cnt; i++) {
        if (o + 1 > n) goto bad;
        size_t il = b[o++];
        if (o + il + 4 > n || !id_ok((const char *)b + o, il)) goto bad;
        entry *e = &r->e[i];
        memcpy(e->id, b + o, il);
        e->id[il] = '\0';
        o += il;
        e->status = b[o] | (b[o + 1] << 8);
        size_t bl = (size_t)(b[o + 2] | (b[o + 3] << 8));
        o += 4;
        if (bl > HEARTH_LINK_REPLY_KEPT_MAX || o + bl > n || memchr(b + o, 0, bl) != NULL) goto bad;
        memcpy(e->body, b + o, bl);
        e->body[bl] = '\0';
        o += bl;
    }
    if (o != n) goto bad;
    r->head = 0;
    r->count = cnt;
    return HEARTH_OK;
bad:
    return hearth_err(HEARTH_ERR_TAMPERED, "request-id memory: bad record");
}

static hearth_status persist(hearth_link_reqids *r)
{
    if (r->store == NULL) return HEARTH_OK;
    uint8_t *b = malloc(RECORD_MAX);
    HEARTH_ENSURE(b != NULL, hearth_err(HEARTH_ERR_NOMEM, "request-id memory: out of memory"));
    memcpy(b, MAGIC, sizeof MAGIC - 1); /* a binary record: no terminator */
    b[4] = (uint8_t)r->count;
    size_t o = 5;
    for (size_t i = 0; i < r->count; i++) {
        const entry *e = &r->e[(r->head + i) % HEARTH_LINK_REQIDS_KEPT];
        size_t il = strlen(e->id), bl = strlen(e->body);
        b[o++] = (uint8_t)il;
        memcpy(b + o, e->id, il);
        o += il;
        b[o++] = (uint8_t)(e->status & 0xff);
        b[o++] = (uint8_t)((e->status >> 8) & 0xff);
        b[o++] = (uint8_t)(bl & 0xff);
        b[o++] = (uint8_t)(bl >> 8);
        memcpy(b + o, e->body, bl);
        o += bl;
    }
    hearth_status st = hearth_store_put(r->store, HEARTH_LINK_REQIDS_RECORD, b, o);
    free(b);
    return st;
}

hearth_status hearth_link_reqids_open(hearth_store *store, hearth_link_reqids **out)
{
    HEARTH_ENSURE(out != NULL, HEARTH_ERR_INVALID);
    *out = NULL;
    hearth_link_reqids *r = calloc(1, sizeof *r);
    HEARTH_ENSURE(r != NULL, hearth_err(HEARTH_ERR_NOMEM, "request-id memory: out of memory"));
    r->store = store;
    if (store != NULL) {
        uint8_t *b = malloc(RECORD_MAX);
        size_t n = 0;
        hearth_status st = b != NULL ? hearth_store_get(store, HEARTH_LINK_REQIDS_RECORD, b, RECORD_MAX, &n)
                                     : hearth_err(HEARTH_ERR_NOMEM, "request-id memory: out of memory");
        if (st == HEARTH_OK) st = decode(r, b, n);
        else if (st == HEARTH_ERR_NOT_FOUND) st = HEARTH_OK;
        free(b);
        if (st != HEARTH_OK) {
            free(r);
            return st;
        }
    }
    *out = r;
    return HEARTH_OK;
}

void hearth_link_reqids_close(hearth_link_reqids *r)
{
    free(r);
}

bool hearth_link_reqids_find(hearth_link_reqids *r, const char *id, int *status, char *body, size_t cap)
{
    if (r == NULL || id == NULL) return false;
    for (size_t i = 0; i < r->count; i++) {
        const entry *e = &r->e[(r->head + i) % HEARTH_LINK_REQIDS_KEPT];
        if (strcmp(e->id, id) != 0) continue;
        if (status != NULL) *status = e->status;
        if (body != NULL && cap > 0) {
            size_t bl = strlen(e->body);
            if (bl >= cap) bl = 0;
            memcpy(body, e->body, bl);
            body[bl] = '\0';
        }
        return true;
    }
    return false;
}

hearth_status hearth_link_reqids_put(hearth_link_reqids *r, const char *id, int status, const char *body)
{
    HEARTH_ENSURE(r != NULL && id != NULL && id_ok(id, strlen(id)) && status >= 0 && status <= 65535,
                  HEARTH_ERR_INVALID);
    entry *e;
    if (r->count == HEARTH_LINK_REQIDS_KEPT) {
        e = &r->e[r->head];
        r->head = (r->head + 1) % HEARTH_LINK_REQIDS_KEPT;
    } else {
        e = &r->e[(r->head + r->count) % HEARTH_LINK_REQIDS_KEPT];
        r->count++;
    }
    snprintf(e->id, sizeof e->id, "%s", id);
    e->status = status;
    size_t bl = body != NULL ? strlen(body) : 0;
    if (bl > HEARTH_LINK_REPLY_KEPT_MAX) bl = 0;
    if (bl > 0) memcpy(e->body, body, bl);
    e->body[bl] = '\0';
    return persist(r);
}
