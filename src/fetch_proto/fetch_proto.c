/* The updater <-> hearth-fetch wire protocol: request record and RESULT
 * payload, encoded and decoded in one place (format in
 * include/hearth/fetch_proto.h). Every decoder treats its input as hostile:
 * the helper's request may come from anyone who can reach its socket, and
 * the daemon must survive a compromised helper. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hearth/fetch_proto.h"

/* ------------------------------------------------------------ URL */

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

static bool v6_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
}

static bool path_char(char c)
{
    return c > 0x20 && c < 0x7f && c != '#' && c != '\\';
}

hearth_status hearth_fetch_url_split(const char *url, hearth_fetch_url *out)
{
    static const char scheme[] = "https://";
    HEARTH_ENSURE(url != NULL && out != NULL, HEARTH_ERR_INVALID);
    memset(out, 0, sizeof *out);
    if (strncmp(url, scheme, sizeof scheme - 1) != 0)
        return hearth_err(HEARTH_ERR_POLICY, "update repository must be https://");
    const char *h = url + sizeof scheme - 1, *p = h;
    size_t hl = 0;
    if (*p == '[') {
        const char *e = strchr(p, ']');
        if (e == NULL) return hearth_err(HEARTH_ERR_INVALID, "repository URL: unterminated IPv6 address");
        for (const char *q = p + 1; q < e; q++)
            if (!v6_char(*q)) return hearth_err(HEARTH_ERR_INVALID, "repository URL: bad IPv6 address");
        h = p + 1;
        hl = (size_t)(e - h);
        out->ipv6 = true;
        p = e + 1;
    } else {
        while (name_char(*p)) p++;
        hl = (size_t)(p - h);
    }
    if (hl == 0 || hl > HEARTH_FETCH_HOST_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "repository URL: missing or overlong host");
    memcpy(out->host, h, hl);
    out->host[hl] = '\0';
    out->port = 443;
    if (*p == ':') {
        uint32_t port = 0;
        size_t digits = 0;
        for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++) port = port * 10 + (uint32_t)(*p - '0');
        if (digits == 0 || port == 0 || port > 65535)
            return hearth_err(HEARTH_ERR_INVALID, "repository URL: bad port");
        out->port = (uint16_t)port;
    }
    if (*p != '\0' && *p != '/')
        return hearth_err(HEARTH_ERR_INVALID, "repository URL: unexpected character after the host");
    for (const char *q = p; *q != '\0'; q++)
        if (!path_char(*q)) return hearth_err(HEARTH_ERR_INVALID, "repository URL: bad character in the path");
    out->path = p;
    return HEARTH_OK;
}

/* ------------------------------------------------------------ request */

hearth_status hearth_fetch_request_encode(const hearth_fetch_request *r, hearth_buf *out)
{
    HEARTH_ENSURE(r != NULL && out != NULL, HEARTH_ERR_INVALID);
    size_t n = r->url != NULL ? strlen(r->url) : 0;
    if (n > HEARTH_FETCH_REQ_URL_MAX) return hearth_err(HEARTH_ERR_TOO_LARGE, "repository URL too long");
    HEARTH_GUARD(hearth_buf_u32(out, HEARTH_FETCH_MAGIC));
    HEARTH_GUARD(hearth_buf_u16(out, (uint16_t)n));
    if (n > 0) HEARTH_GUARD(hearth_buf_append(out, r->url, n));
    HEARTH_GUARD(hearth_buf_u64(out, r->offset));
    HEARTH_GUARD(hearth_buf_u64(out, r->max_bytes));
    return hearth_buf_u32(out, r->stall_timeout_s);
}

static hearth_status decode_fields(hearth_cursor *c, hearth_fetch_request *r)
{
    uint32_t magic = 0;
    uint16_t n = 0;
    const uint8_t *p = NULL;
    if (hearth_cursor_u32(c, &magic) != HEARTH_OK || magic != HEARTH_FETCH_MAGIC)
        return hearth_err(HEARTH_ERR_INVALID, "not a hearth-fetch request");
    HEARTH_GUARD(hearth_cursor_u16(c, &n));
    if (n > HEARTH_FETCH_REQ_URL_MAX) return hearth_err(HEARTH_ERR_TOO_LARGE, "request URL too long");
    if (n == 0) return hearth_err(HEARTH_ERR_INVALID, "request URL missing");
    HEARTH_GUARD(hearth_cursor_ptr(c, n, &p));
    if (memchr(p, '\0', n) != NULL) return hearth_err(HEARTH_ERR_INVALID, "NUL in the request URL");
    char *url = malloc((size_t)n + 1);
    if (url == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    memcpy(url, p, n);
    url[n] = '\0';
    r->url = url;
    HEARTH_GUARD(hearth_cursor_u64(c, &r->offset));
    HEARTH_GUARD(hearth_cursor_u64(c, &r->max_bytes));
    HEARTH_GUARD(hearth_cursor_u32(c, &r->stall_timeout_s));
    if (hearth_cursor_remaining(c) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "trailing bytes after the request");
    hearth_fetch_url u;
    HEARTH_GUARD(hearth_fetch_url_split(r->url, &u));
    if (r->stall_timeout_s == 0 || r->stall_timeout_s > HEARTH_FETCH_TIMEOUT_MAX_S)
        return hearth_err(HEARTH_ERR_RANGE, "stall timeout out of range");
    if (r->offset > (uint64_t)INT64_MAX || r->max_bytes > (uint64_t)INT64_MAX)
        return hearth_err(HEARTH_ERR_RANGE, "offset or size out of range");
    return HEARTH_OK;
}

hearth_status hearth_fetch_request_decode(const uint8_t *data, size_t len, hearth_fetch_request *r)
{
    HEARTH_ENSURE(r != NULL && (data != NULL || len == 0), HEARTH_ERR_INVALID);
    memset(r, 0, sizeof *r);
    hearth_cursor c;
    hearth_cursor_init(&c, data, len);
    hearth_status st = decode_fields(&c, r);
    if (st != HEARTH_OK) hearth_fetch_request_clear(r);
    return st;
}

void hearth_fetch_request_clear(hearth_fetch_request *r)
{
    if (r == NULL) return;
    free((void *)r->url);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------- descriptor passing */

/* Room for a few descriptors, so a sender passing more than one is seen
 * (and every one of them closed) rather than silently truncated. */
#define FD_SLOTS 8

/* Take the descriptors of one message: the first becomes *conn_fd, any
 * other (or a second message's) is closed and makes the request invalid. */
static bool take_fds(struct msghdr *m, int *conn_fd)
{
    bool ok = (m->msg_flags & MSG_CTRUNC) == 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            ok = false;
            continue;
        }
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*conn_fd < 0 && ok) {
                *conn_fd = fd;
            } else {
                close(fd);
                ok = false;
            }
        }
    }
    return ok;
}

hearth_status hearth_fetch_request_recv(int sock, hearth_buf *in, int *conn_fd)
{
    HEARTH_ENSURE(in != NULL && conn_fd != NULL, HEARTH_ERR_INVALID);
    *conn_fd = -1;
    hearth_status st = HEARTH_OK;
    uint8_t chunk[1024];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(FD_SLOTS * sizeof(int))];
    } ctl;
    for (;;) {
        struct iovec iov = {.iov_base = chunk, .iov_len = sizeof chunk};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                           .msg_controllen = sizeof ctl.buf};
        ssize_t r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = hearth_err(errno == ENOTSOCK ? HEARTH_ERR_INVALID : HEARTH_ERR_IO,
                            "reading the request: %s", strerror(errno));
            break;
        }
        if (!take_fds(&m, conn_fd) && st == HEARTH_OK)
            st = hearth_err(HEARTH_ERR_INVALID, "request came with more than one descriptor");
        if (r == 0) break;
        if (st == HEARTH_OK && hearth_buf_append(in, chunk, (size_t)r) != HEARTH_OK)
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "request too large");
        if (st != HEARTH_OK) break;
    }
    if (st != HEARTH_OK && *conn_fd >= 0) {
        close(*conn_fd);
        *conn_fd = -1;
    }
    return st;
}

hearth_status hearth_fetch_request_send_fd(int sock, const uint8_t *data, size_t len, int conn_fd,
                                           size_t *sent)
{
    HEARTH_ENSURE(data != NULL && len > 0 && conn_fd >= 0 && sent != NULL, HEARTH_ERR_INVALID);
    *sent = 0;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = (void *)data, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &conn_fd, sizeof conn_fd);
    for (;;) {
        ssize_t w = sendmsg(sock, &m, MSG_NOSIGNAL);
        if (w == 1) {
            *sent = 1;
            return HEARTH_OK;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return HEARTH_ERR_BUSY;
        return hearth_err(HEARTH_ERR_IO, "passing the connection to hearth-fetch: %s",
                          w < 0 ? strerror(errno) : "short write");
    }
}

/* ------------------------------------------------------------- result */

hearth_status hearth_fetch_result_encode(const hearth_fetch_result *r, uint8_t *out, size_t cap,
                                         size_t *len)
{
    HEARTH_ENSURE(r != NULL && out != NULL && len != NULL, HEARTH_ERR_INVALID);
    hearth_buf b;
    hearth_buf_init(&b, HEARTH_FETCH_FRAME_RESULT_MAX);
    size_t ml = strnlen(r->msg, HEARTH_FETCH_RESULT_MSG_MAX);
    HEARTH_ENSURE(!(r->retry_after && r->retry_after_bad) &&
                      (!r->retry_after || r->retry_after_s <= HEARTH_FETCH_RETRY_AFTER_MAX_S),
                  HEARTH_ERR_INVALID);
    uint8_t flags = (uint8_t)((r->overflow ? HEARTH_FETCH_RESULT_OVERFLOW : 0u) |
                              (r->retry_after ? HEARTH_FETCH_RESULT_RETRY_AFTER : 0u) |
                              (r->retry_after_bad ? HEARTH_FETCH_RESULT_RETRY_AFTER_BAD : 0u));
    uint32_t code = r->http_code > 0 && r->http_code <= 999 ? (uint32_t)r->http_code : 0u;
    hearth_status st = hearth_buf_u32(&b, (uint32_t)(int32_t)r->status);
    if (st == HEARTH_OK) st = hearth_buf_u32(&b, code);
    if (st == HEARTH_OK) st = hearth_buf_u64(&b, r->received);
    if (st == HEARTH_OK) st = hearth_buf_u8(&b, flags);
    if (st == HEARTH_OK) st = hearth_buf_u16(&b, (uint16_t)ml);
    if (st == HEARTH_OK && ml > 0) st = hearth_buf_append(&b, r->msg, ml);
    if (st == HEARTH_OK && r->retry_after) st = hearth_buf_u32(&b, r->retry_after_s);
    if (st == HEARTH_OK && b.len > cap) st = hearth_err(HEARTH_ERR_TOO_LARGE, "result buffer too small");
    if (st == HEARTH_OK) {
        memcpy(out, b.data, b.len);
        *len = b.len;
    }
    hearth_buf_free(&b);
    return st;
}

hearth_status hearth_fetch_result_decode(const uint8_t *p, size_t n, hearth_fetch_result *r)
{
    uint32_t stu = 0, code = 0;
    uint64_t recv = 0;
    uint8_t flags = 0;
    uint16_t ml = 0;
    uint32_t ra = 0;
    const uint8_t *m = NULL;
    HEARTH_ENSURE(r != NULL && (p != NULL || n == 0), HEARTH_ERR_INVALID);
    memset(r, 0, sizeof *r);
    hearth_cursor cur;
    hearth_cursor_init(&cur, p, n);
    if (hearth_cursor_u32(&cur, &stu) != HEARTH_OK || hearth_cursor_u32(&cur, &code) != HEARTH_OK ||
        hearth_cursor_u64(&cur, &recv) != HEARTH_OK || hearth_cursor_u8(&cur, &flags) != HEARTH_OK ||
        hearth_cursor_u16(&cur, &ml) != HEARTH_OK || ml > HEARTH_FETCH_RESULT_MSG_MAX ||
        hearth_cursor_ptr(&cur, ml, &m) != HEARTH_OK ||
        ((flags & HEARTH_FETCH_RESULT_RETRY_AFTER) != 0 && hearth_cursor_u32(&cur, &ra) != HEARTH_OK) ||
        hearth_cursor_remaining(&cur) != 0)
        return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent a malformed result");
    int32_t sv = (int32_t)stu;
    const unsigned known = HEARTH_FETCH_RESULT_OVERFLOW | HEARTH_FETCH_RESULT_RETRY_AFTER |
                           HEARTH_FETCH_RESULT_RETRY_AFTER_BAD;
    const unsigned both = HEARTH_FETCH_RESULT_RETRY_AFTER | HEARTH_FETCH_RESULT_RETRY_AFTER_BAD;
    if (sv > 0 || sv < (int32_t)HEARTH_ERR_INTERNAL || code > 999 || (flags & ~known) != 0 ||
        (flags & both) == both || ra > HEARTH_FETCH_RETRY_AFTER_MAX_S)
        return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent an invalid result");
    r->status = (hearth_status)sv;
    r->http_code = (long)code;
    r->received = recv;
    r->overflow = (flags & HEARTH_FETCH_RESULT_OVERFLOW) != 0;
    r->retry_after = (flags & HEARTH_FETCH_RESULT_RETRY_AFTER) != 0;
    r->retry_after_s = ra;
    r->retry_after_bad = (flags & HEARTH_FETCH_RESULT_RETRY_AFTER_BAD) != 0;
    for (size_t i = 0; i < ml; i++) r->msg[i] = (char)((m[i] >= 0x20 && m[i] < 0x7f) ? m[i] : '?');
    r->msg[ml] = '\0';
    return HEARTH_OK;
}

/* ------------------------------------------------------------- frames */

void hearth_fetch_frame_header(uint8_t hdr[HEARTH_FETCH_FRAME_HDR_LEN], uint8_t type, uint32_t len)
{
    hdr[0] = type;
    hearth_be32_put(hdr + 1, len);
}

hearth_status hearth_fetch_frame_parse(const uint8_t hdr[HEARTH_FETCH_FRAME_HDR_LEN], uint8_t *type,
                                       uint32_t *len)
{
    *type = hdr[0];
    *len = hearth_be32_get(hdr + 1);
    if (*type == HEARTH_FETCH_FRAME_DATA) {
        if (*len == 0 || *len > HEARTH_FETCH_FRAME_DATA_MAX)
            return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent an oversized frame (%u bytes)", *len);
        return HEARTH_OK;
    }
    if (*type == HEARTH_FETCH_FRAME_RESULT) {
        if (*len > HEARTH_FETCH_FRAME_RESULT_MAX)
            return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent an oversized result (%u bytes)", *len);
        return HEARTH_OK;
    }
    return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent an unknown frame type %u", *type);
}
