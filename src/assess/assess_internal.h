/* Internal to src/assess: the bounded network probes of the black-box units. */
#ifndef HEARTH_ASSESS_INTERNAL_H
#define HEARTH_ASSESS_INTERNAL_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/assess.h"

#define AX_HDRS_MAX 8192
#define AX_BODY_MAX 16384

/** One assessment run: the target, the report, the budget. */
typedef struct {
    const hearth_assess_target *t;
    hearth_assess_report *r;
    int64_t deadline_ms; /* hearth_mono_ms() after which nothing starts */
    uint32_t timeout_ms;
    bool budget_hit;     /* a probe was refused for the budget */
    char banners[1024];  /* what open non-API ports said unprompted (open-ports) */
    char token[256];     /* the admin session, if an admin credential was given */
} ax_run;

/** What a UDP probe learnt of one port. */
typedef enum {
    AX_UDP_UNPROBED = 0, /* not probed (budget, socket error) */
    AX_UDP_CLOSED,       /* ICMP port unreachable (ECONNREFUSED) */
    AX_UDP_OPEN,         /* a datagram came back */
    AX_UDP_SILENT,       /* nothing came back: open|filtered */
} ax_udp_state;

/**
 * Send an empty datagram from a connected UDP socket to each of @p n ports
 * (at most HEARTH_ASSESS_PORTS_MAX), paced, and wait up to one probe timeout
 * for an answer or an ICMP port unreachable; ports still silent get one
 * more datagram. Each datagram is a request of the budget. Fills @p st.
 */
void ax_udp_probe(ax_run *a, const uint16_t *ports, size_t n, ax_udp_state *st);


/** The update-path unit (units_update.c). */
void ax_unit_update(ax_run *a);

/** Append printf-style text to the NUL-terminated @p ev of @p cap bytes (truncated). */
void ax_ev_add(char *ev, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Consume one request of the budget; false (and budget_hit) when spent or late. */
bool ax_budget(ax_run *a);
/** Milliseconds left before the deadline (0 when past). */
int64_t ax_left_ms(const ax_run *a);

/** Connect to @p port of the target: fd, or -1 (refused, unreachable, timeout). */
int ax_tcp_connect(ax_run *a, uint16_t port);

/** TLS handshake on the API port with versions [minv, maxv] and the cipher
 *  list (NULL: OpenSSL's default). Returns the connected SSL (caller frees
 *  with ax_tls_close) or NULL; *err gets OpenSSL's reason when NULL. */
SSL *ax_tls_connect(ax_run *a, int minv, int maxv, const char *ciphers, char *err, size_t cap);
void ax_tls_close(SSL *s);

typedef struct {
    int status; /* -1: no HTTP answer */
    char hdrs[AX_HDRS_MAX];
    char body[AX_BODY_MAX + 1];
    size_t body_len;
} ax_resp;

/**
 * One HTTPS request to the API port (Connection: close). @p token adds a
 * Bearer header; @p json a JSON body. Returns the status (or -1; -2 when the
 * budget is spent).
 */
int ax_https(ax_run *a, const char *method, const char *path, const char *token,
             const char *json, ax_resp *out);

/** Like ax_https with a body of @p len bytes of type @p ctype (NULL body: none). */
int ax_https_body(ax_run *a, const char *method, const char *path, const char *token,
                  const char *ctype, const void *body, size_t len, ax_resp *out);

/** Value of header @p name in @p r (bounded copy), false if absent. */
bool ax_header(const ax_resp *r, const char *name, char *out, size_t cap);

#endif
