/* The link thread (hearth/link.h, docs/mqtt.md): one libmosquitto client
 * object per connection attempt, driven by mosquitto_loop() on this
 * thread; connection pacing by the backoff module, never libmosquitto's
 * reconnect; everything sent comes from the outbox, in order, and leaves it
 * only on PUBACK. */
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/backoff.h"
#include "hearth/json.h"
#include "hearth/link.h"
#include "hearth/tls_client.h"
#include "hearth/util.h"

#define INFLIGHT_MAX 8           /* unacknowledged publishes at once */
#define EV_RING 128              /* security-log lines waiting for the outbox */
#define TICK_MS 100
#define STATE_POLL_MS 1000
#define SESSION_EXPIRY_S 86400   /* the broker keeps our subscriptions and queued commands */
#define TOPIC_MAX (6 + HEARTH_LINK_ID_MAX + 1 + HEARTH_OUTBOX_TOPIC_MAX)
#define REPLY_BODY_MAX HEARTH_OUTBOX_PAYLOAD_MAX

struct hearth_link {
    hearth_link_config cfg;
    char id[HEARTH_LINK_ID_MAX + 1];
    char server_name[HEARTH_LINK_HOST_MAX + 1];
    char sw[64];
    pthread_t thr;
    bool thr_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;             /* under mu */
    char *ev[EV_RING];     /* under mu */
    size_t ev_head, ev_count;
    uint64_t ev_dropped;
    atomic_bool connected;
    /* Link thread only. */
    struct mosquitto *mosq;
    SSL_CTX *ctx;
    hearth_backoff bo;
    size_t broker;
    bool connack;
    int connack_rc;
    uint64_t busy_hint_ms;
    bool lost;
    int lost_rc;
    int64_t up_since_ms;
    struct {
        int mid;
        uint64_t seq;
    } inflight[INFLIGHT_MAX];
    size_t ninflight;
    uint64_t last_sent;
    hearth_outbox_record rec;
    char out[HEARTH_OUTBOX_PAYLOAD_MAX + HEARTH_LINK_ENVELOPE_EXTRA];
    char state[HEARTH_OUTBOX_PAYLOAD_MAX];
    char state_prev[HEARTH_OUTBOX_PAYLOAD_MAX];
    int64_t state_polled_ms, state_sent_ms;
    bool state_force;
    int64_t update_at_ms; /* 0: no announced check pending */
    char reply_body[REPLY_BODY_MAX];
    char reply[REPLY_BODY_MAX];
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
    (void)mosquitto_lib_init();
}

static void topic(const hearth_link *l, const char *suffix, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "hearth/%s/%s", l->id, suffix);
    if (n < 0 || (size_t)n >= cap) buf[0] = '\0'; /* cannot happen: both parts are bounded */
}

/* ------------------------------------------------------------ producing */

static void seclog_hook(hearth_severity sev, const char *line, void *arg)
{
    (void)sev;
    hearth_link *l = arg;
    /* Under the log lock: copy and leave; the link thread queues it. */
    char *copy = strdup(line);
    pthread_mutex_lock(&l->mu);
    if (copy == NULL || l->ev_count == EV_RING) {
        l->ev_dropped++;
        free(copy);
    } else {
        l->ev[(l->ev_head + l->ev_count) % EV_RING] = copy;
        l->ev_count++;
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

hearth_status hearth_link_queue(hearth_link *l, hearth_outbox_class cls, const char *suffix, const char *json,
                                size_t len)
{
    HEARTH_ENSURE(l != NULL && suffix != NULL && json != NULL, HEARTH_ERR_INVALID);
    if (len < 7 || memcmp(json, "{\"v\":1", 6) != 0 || (json[6] != ',' && json[6] != '}'))
        return hearth_err(HEARTH_ERR_INVALID, "link: a payload must start with {\"v\":1");
    HEARTH_GUARD(hearth_outbox_put(l->cfg.outbox, cls, suffix, (const uint8_t *)json, len, NULL));
    pthread_mutex_lock(&l->mu);
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return HEARTH_OK;
}

static void queue_or_log(hearth_link *l, hearth_outbox_class cls, const char *suffix, const char *json, size_t len)
{
    if (hearth_link_queue(l, cls, suffix, json, len) != HEARTH_OK)
        fprintf(stderr, "hearth link: cannot queue %s: %s\n", suffix, hearth_err_msg());
}

static void produce_events(hearth_link *l)
{
    for (;;) {
        pthread_mutex_lock(&l->mu);
        char *line = NULL;
        if (l->ev_count > 0) {
            line = l->ev[l->ev_head];
            l->ev[l->ev_head] = NULL;
            l->ev_head = (l->ev_head + 1) % EV_RING;
            l->ev_count--;
        }
        pthread_mutex_unlock(&l->mu);
        if (line == NULL) return;
        size_t n = 0;
        if (hearth_link_event_payload(line, hearth_time_now(), l->out, sizeof l->out, &n) == HEARTH_OK)
            queue_or_log(l, HEARTH_OUTBOX_EVENT, "events", l->out, n);
        free(line);
    }
}

static void produce_state(hearth_link *l, int64_t now)
{
    if (l->cfg.state == NULL) return;
    if (!l->state_force && now - l->state_polled_ms < STATE_POLL_MS) return;
    if (!l->state_force && now - l->state_sent_ms < HEARTH_LINK_STATE_MIN_MS) return;
    l->state_polled_ms = now;
    if (l->cfg.state(l->cfg.arg, l->state, sizeof l->state) != HEARTH_OK) return;
    if (!l->state_force && strcmp(l->state, l->state_prev) == 0) return;
    int n = snprintf(l->out, sizeof l->out, "{\"v\":1,\"ts\":%lld,\"sw\":\"%s\",\"apps\":%s}",
                     (long long)hearth_time_now(), l->sw, l->state);
    if (n < 0 || (size_t)n >= HEARTH_OUTBOX_PAYLOAD_MAX) return;
    queue_or_log(l, HEARTH_OUTBOX_STATE, "state", l->out, (size_t)n);
    memcpy(l->state_prev, l->state, strlen(l->state) + 1);
    l->state_sent_ms = now;
    l->state_force = false;
}

/* ------------------------------------------------------------- commands */

static void reply(hearth_link *l, const char *id, int status, const char *body, bool dup)
{
    size_t n = 0;
    if (hearth_link_reply_format(id, status, body, dup, l->reply, sizeof l->reply, &n) != HEARTH_OK &&
        hearth_link_reply_format(id, status, NULL, dup, l->reply, sizeof l->reply, &n) != HEARTH_OK)
        return;
    if (n > HEARTH_OUTBOX_PAYLOAD_MAX) return;
    queue_or_log(l, HEARTH_OUTBOX_STATE, "cmd/res", l->reply, n);
}

static void on_command(hearth_link *l, const uint8_t *payload, size_t len)
{
    hearth_link_command cmd;
    hearth_status st = hearth_link_command_parse(payload, len, &cmd);
    if (st != HEARTH_OK) {
        char why[160];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        hearth_seclog(HEARTH_SEV_WARNING, "command_refused", "id", cmd.id, "reason", why, NULL);
        if (cmd.id[0] != '\0') {
            char body[256] = "{\"error\":\"invalid_command\",\"message\":";
            size_t bl = 0;
            if (hearth_json_escape(why, strlen(why), body, sizeof body) == HEARTH_OK &&
                (bl = strlen(body)) + 2 <= sizeof body)
                memcpy(body + bl, "}", 2);
            else
                snprintf(body, sizeof body, "{\"error\":\"invalid_command\"}");
            reply(l, cmd.id, st == HEARTH_ERR_TOO_LARGE ? 413 : 400, body, false);
        }
        return;
    }
    int status = 0;
    if (hearth_link_reqids_find(l->cfg.reqids, cmd.id, &status, l->reply_body, sizeof l->reply_body)) {
        /* At-least-once delivery: answered again, not executed again. */
        hearth_seclog(HEARTH_SEV_INFO, "command_duplicate", "id", cmd.id, NULL);
        reply(l, cmd.id, status, l->reply_body, true);
        return;
    }
    l->reply_body[0] = '\0';
    status = 500;
    l->cfg.command(l->cfg.arg, &cmd, &status, l->reply_body, sizeof l->reply_body);
    if (hearth_link_reqids_put(l->cfg.reqids, cmd.id, status, l->reply_body) != HEARTH_OK)
        fprintf(stderr, "hearth link: cannot remember request id: %s\n", hearth_err_msg());
    reply(l, cmd.id, status, l->reply_body, false);
    l->state_force = true; /* a command may have changed the state */
}

static void on_update(hearth_link *l, const uint8_t *payload, size_t len)
{
    hearth_link_update_hint h;
    if (hearth_link_update_parse(payload, len, &h) != HEARTH_OK) {
        char why[160];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        hearth_seclog(HEARTH_SEV_WARNING, "update_announcement_refused", "reason", why, NULL);
        return;
    }
    uint64_t due = 0;
    if (hearth_link_update_due_ms(&h, &due) != HEARTH_OK) due = (uint64_t)h.delay_s * 1000u;
    int64_t at = hearth_mono_ms() + (int64_t)due;
    if (l->update_at_ms == 0 || at < l->update_at_ms) l->update_at_ms = at;
    char d[24];
    snprintf(d, sizeof d, "%lld", (long long)((at - hearth_mono_ms()) / 1000));
    hearth_seclog(HEARTH_SEV_INFO, "update_announced", "version", h.version, "check_in_s", d, NULL);
}

/* ----------------------------------------------------- libmosquitto glue */

static void cb_connect(struct mosquitto *m, void *arg, int rc, int flags, const mosquitto_property *props)
{
    (void)m;
    (void)flags;
    hearth_link *l = arg;
    l->connack = true;
    l->connack_rc = rc;
    uint16_t ka = 0;
    l->busy_hint_ms = 0;
    if (props != NULL && mosquitto_property_read_int16(props, MQTT_PROP_SERVER_KEEP_ALIVE, &ka, false) != NULL)
        l->busy_hint_ms = (uint64_t)ka * 1000u;
}

static void cb_disconnect(struct mosquitto *m, void *arg, int rc, const mosquitto_property *props)
{
    (void)m;
    (void)props;
    hearth_link *l = arg;
    l->lost = true;
    l->lost_rc = rc;
}

static void cb_publish(struct mosquitto *m, void *arg, int mid, int rc, const mosquitto_property *props)
{
    (void)m;
    (void)props;
    hearth_link *l = arg;
    for (size_t i = 0; i < l->ninflight; i++) {
        if (l->inflight[i].mid != mid) continue;
        if (rc >= 0x80) {
            char code[16];
            snprintf(code, sizeof code, "0x%02x", (unsigned)rc & 0xffu);
            hearth_seclog(HEARTH_SEV_WARNING, "service_publish_refused", "code", code, NULL);
        }
        if (hearth_outbox_ack(l->cfg.outbox, l->inflight[i].seq) != HEARTH_OK)
            fprintf(stderr, "hearth link: outbox ack: %s\n", hearth_err_msg());
        l->inflight[i] = l->inflight[--l->ninflight];
        return;
    }
}

static void cb_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    (void)m;
    (void)props;
    hearth_link *l = arg;
    char t[TOPIC_MAX];
    if (msg->topic == NULL || msg->payloadlen < 0) return;
    const uint8_t *p = msg->payload != NULL ? msg->payload : (const uint8_t *)"";
    topic(l, "cmd/req", t, sizeof t);
    if (strcmp(msg->topic, t) == 0) {
        on_command(l, p, (size_t)msg->payloadlen);
        return;
    }
    topic(l, "updates", t, sizeof t);
    if (strcmp(msg->topic, t) == 0) on_update(l, p, (size_t)msg->payloadlen);
}

/* ------------------------------------------------------------ connection */

static void drop_connection(hearth_link *l)
{
    if (l->mosq != NULL) {
        mosquitto_destroy(l->mosq);
        l->mosq = NULL;
    }
    SSL_CTX_free(l->ctx);
    l->ctx = NULL;
    atomic_store(&l->connected, false);
    l->ninflight = 0;
    l->last_sent = 0; /* resend everything not acknowledged, in order */
}

static const char *status_payload(bool online)
{
    return online ? "{\"v\":1,\"online\":true}" : "{\"v\":1,\"online\":false}";
}

static bool stopping(hearth_link *l)
{
    pthread_mutex_lock(&l->mu);
    bool s = l->stop;
    pthread_mutex_unlock(&l->mu);
    return s;
}

/* The broker (or something between) took the connection and did not finish
 * the TLS handshake or answer CONNECT in time: a diagnostic and security
 * event (a silent middlebox or a hostile endpoint looks exactly like this). */
static void connect_timed_out(hearth_link *l, const hearth_link_broker *b, int64_t started)
{
    SSL *ssl = mosquitto_ssl_get(l->mosq);
    const char *stage = ssl != NULL && SSL_is_init_finished(ssl) ? "connack" : "tls_handshake";
    char ms[24], port[8];
    snprintf(ms, sizeof ms, "%lld", (long long)(hearth_mono_ms() - started));
    snprintf(port, sizeof port, "%u", b->port);
    fprintf(stderr, "hearth link: %s:%u: no %s within %llu ms, dropping the connection\n", b->host, b->port,
            stage[0] == 'c' ? "CONNACK" : "TLS handshake", (unsigned long long)l->cfg.connect_timeout_ms);
    hearth_seclog(HEARTH_SEV_WARNING, "service_connect_timeout", "broker", b->host, "port", port, "stage", stage,
                  "waited_ms", ms, NULL);
}

/* One attempt on the current broker. Returns the delay before the next
 * attempt, or 0 when connected. */
static uint64_t attempt(hearth_link *l)
{
    const hearth_link_broker *b = &l->cfg.brokers[l->broker];
    const char *name = l->server_name[0] != '\0' ? l->server_name : b->host;
    fprintf(stderr, "hearth link: connecting to %s:%u (attempt %u)\n", b->host, b->port,
            hearth_backoff_attempts(&l->bo) + 1);
    hearth_backoff_reason why = HEARTH_BACKOFF_FAILED;
    uint64_t hint = 0;
    bool next = true;
    char t[TOPIC_MAX];
    hearth_status st = l->cfg.tls(l->cfg.arg, &l->ctx);
    if (st == HEARTH_OK) st = hearth_tls_expect_host(SSL_CTX_get0_param(l->ctx), name, NULL);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth link: TLS context: %s\n", hearth_err_msg());
        goto failed;
    }
    l->mosq = mosquitto_new(l->id, l->cfg.clean_session, l);
    if (l->mosq == NULL) goto failed;
    mosquitto_property *props = NULL;
    int v = l->cfg.protocol == 4 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5;
    topic(l, "status", t, sizeof t);
    const char *off = status_payload(false);
    if (mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION, v) != MOSQ_ERR_SUCCESS ||
        mosquitto_int_option(l->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0) != MOSQ_ERR_SUCCESS ||
        mosquitto_void_option(l->mosq, MOSQ_OPT_SSL_CTX, l->ctx) != MOSQ_ERR_SUCCESS ||
        mosquitto_will_set_v5(l->mosq, t, (int)strlen(off), off, 1, true, NULL) != MOSQ_ERR_SUCCESS)
        goto failed;
    mosquitto_connect_v5_callback_set(l->mosq, cb_connect);
    mosquitto_disconnect_v5_callback_set(l->mosq, cb_disconnect);
    mosquitto_publish_v5_callback_set(l->mosq, cb_publish);
    mosquitto_message_v5_callback_set(l->mosq, cb_message);
    if (v == MQTT_PROTOCOL_V5 && !l->cfg.clean_session &&
        mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, SESSION_EXPIRY_S) != MOSQ_ERR_SUCCESS)
        goto failed;
    l->connack = false;
    l->lost = false;
    int rc = mosquitto_connect_bind_v5(l->mosq, b->host, b->port, HEARTH_LINK_KEEPALIVE_S, NULL, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "hearth link: %s:%u: %s\n", b->host, b->port,
                rc == MOSQ_ERR_ERRNO ? "connection failed" : mosquitto_strerror(rc));
        goto failed;
    }
    /* The TCP connection is made; the TLS handshake and the CONNACK must
     * both complete within the deadline, or the connection is dropped and
     * the attempt counts as failed (backoff, never a tight loop). */
    int64_t started = hearth_mono_ms();
    int64_t deadline = started + (int64_t)l->cfg.connect_timeout_ms;
    while (!l->connack && !l->lost && hearth_mono_ms() < deadline && !stopping(l)) {
        rc = mosquitto_loop(l->mosq, TICK_MS, 1);
        if (rc != MOSQ_ERR_SUCCESS) break;
    }
    if (!l->connack) {
        if (!l->lost && rc == MOSQ_ERR_SUCCESS && hearth_mono_ms() >= deadline) connect_timed_out(l, b, started);
        else fprintf(stderr, "hearth link: %s:%u: no CONNACK\n", b->host, b->port);
        goto failed;
    }
    if (l->connack_rc != 0) {
        why = hearth_link_connack_reason(v, l->connack_rc, &next);
        hint = l->busy_hint_ms;
        fprintf(stderr, "hearth link: %s:%u refused the connection: %s\n", b->host, b->port,
                v == MQTT_PROTOCOL_V5 ? mosquitto_reason_string(l->connack_rc)
                                      : mosquitto_connack_string(l->connack_rc));
        goto failed;
    }
    /* Up: subscribe, announce, state snapshot; the outbox drains. */
    char cmd[TOPIC_MAX], upd[TOPIC_MAX];
    topic(l, "cmd/req", cmd, sizeof cmd);
    topic(l, "updates", upd, sizeof upd);
    const char *on = status_payload(true);
    if (mosquitto_subscribe_v5(l->mosq, NULL, cmd, 1, 0, NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_subscribe_v5(l->mosq, NULL, upd, 1, 0, NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_publish_v5(l->mosq, NULL, t, (int)strlen(on), on, 1, true, NULL) != MOSQ_ERR_SUCCESS)
        goto failed;
    fprintf(stderr, "hearth link: connected to %s:%u\n", b->host, b->port);
    hearth_seclog(HEARTH_SEV_INFO, "service_connected", "broker", b->host, NULL);
    hearth_backoff_connected(&l->bo);
    atomic_store(&l->connected, true);
    l->up_since_ms = hearth_mono_ms();
    l->state_force = true;
    return 0;
failed:
    drop_connection(l);
    if (next) l->broker = (l->broker + 1) % l->cfg.nbrokers;
    return hearth_backoff_failed(&l->bo, why, hint);
}

static void drain(hearth_link *l)
{
    char t[TOPIC_MAX];
    while (l->ninflight < INFLIGHT_MAX) {
        hearth_status st = hearth_outbox_next(l->cfg.outbox, l->last_sent, &l->rec);
        if (st != HEARTH_OK) {
            if (st != HEARTH_ERR_NOT_FOUND) fprintf(stderr, "hearth link: outbox: %s\n", hearth_err_msg());
            return;
        }
        /* Every payload starts {"v":1; the outbox sequence number and the
         * reset epoch go in right after it, so the service deduplicates
         * and orders by (device, ep, seq). */
        size_t len = 0;
        if (hearth_link_envelope(l->rec.seq, l->cfg.reset_epoch, l->rec.payload, l->rec.payload_len, l->out,
                                 sizeof l->out, &len) != HEARTH_OK) {
            /* Not a payload this link put there: it cannot be sent. */
            hearth_err_clear();
            if (hearth_outbox_ack(l->cfg.outbox, l->rec.seq) != HEARTH_OK) return;
            continue;
        }
        topic(l, l->rec.topic, t, sizeof t);
        int mid = 0;
        bool retain = strcmp(l->rec.topic, "state") == 0;
        if (mosquitto_publish_v5(l->mosq, &mid, t, (int)len, l->out, 1, retain, NULL) != MOSQ_ERR_SUCCESS) return;
        l->inflight[l->ninflight].mid = mid;
        l->inflight[l->ninflight].seq = l->rec.seq;
        l->ninflight++;
        l->last_sent = l->rec.seq;
    }
}

static uint64_t went_down(hearth_link *l)
{
    int rc = l->lost_rc;
    const hearth_link_broker *b = &l->cfg.brokers[l->broker];
    fprintf(stderr, "hearth link: connection to %s:%u lost (%d)\n", b->host, b->port, rc);
    hearth_seclog(HEARTH_SEV_INFO, "service_disconnected", "broker", b->host, NULL);
    drop_connection(l);
    bool next = false;
    if (rc >= 0x80) {
        hearth_backoff_reason why = hearth_link_connack_reason(MQTT_PROTOCOL_V5, rc, &next);
        if (next) l->broker = (l->broker + 1) % l->cfg.nbrokers;
        if (why != HEARTH_BACKOFF_FAILED) return hearth_backoff_failed(&l->bo, why, 0);
    }
    /* A broker that goes away (shut down, crashed, network gone) goes
     * away for the whole fleet: after a stable connection the whole fleet
     * would otherwise come back in lock step. */
    bool fleet = (rc < 0x80 || rc == 0x8B) &&
                 hearth_mono_ms() - l->up_since_ms >= (int64_t)l->bo.cfg.stable_ms;
    return hearth_backoff_disconnected(&l->bo, fleet);
}

static void wait_ms(hearth_link *l, int64_t ms)
{
    if (ms <= 0) return;
    if (ms > TICK_MS) ms = TICK_MS;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&l->mu);
    if (!l->stop && l->ev_count == 0) pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    pthread_mutex_unlock(&l->mu);
}

static void say_offline(hearth_link *l)
{
    if (l->mosq == NULL || !atomic_load(&l->connected)) return;
    char t[TOPIC_MAX];
    topic(l, "status", t, sizeof t);
    const char *off = status_payload(false);
    int mid = 0;
    if (mosquitto_publish_v5(l->mosq, &mid, t, (int)strlen(off), off, 1, true, NULL) == MOSQ_ERR_SUCCESS) {
        int64_t until = hearth_mono_ms() + 1000;
        while (hearth_mono_ms() < until && mosquitto_want_write(l->mosq))
            if (mosquitto_loop(l->mosq, TICK_MS, 1) != MOSQ_ERR_SUCCESS) break;
        (void)mosquitto_loop(l->mosq, TICK_MS, 1);
    }
    (void)mosquitto_disconnect_v5(l->mosq, 0, NULL);
    (void)mosquitto_loop(l->mosq, TICK_MS, 1);
}

static void *link_main(void *arg)
{
    hearth_link *l = arg;
    int64_t next_at = hearth_mono_ms() + (int64_t)hearth_backoff_first_delay(&l->bo);
    while (!stopping(l)) {
        int64_t now = hearth_mono_ms();
        produce_events(l);
        produce_state(l, now);
        if (l->update_at_ms != 0 && now >= l->update_at_ms) {
            l->update_at_ms = 0;
            if (l->cfg.update != NULL) l->cfg.update(l->cfg.arg);
        }
        if (!atomic_load(&l->connected)) {
            if (now >= next_at) {
                uint64_t d = attempt(l);
                if (d > 0) next_at = hearth_mono_ms() + (int64_t)d;
            } else {
                wait_ms(l, next_at - now);
            }
            continue;
        }
        drain(l);
        int rc = mosquitto_loop(l->mosq, TICK_MS, 1);
        if (rc != MOSQ_ERR_SUCCESS && !l->lost) {
            l->lost = true;
            l->lost_rc = rc;
        }
        if (l->lost) next_at = hearth_mono_ms() + (int64_t)went_down(l);
    }
    say_offline(l);
    drop_connection(l);
    return NULL;
}

hearth_backoff_reason hearth_link_connack_reason(int protocol, int code, bool *use_other_server)
{
    bool other = false;
    hearth_backoff_reason r = HEARTH_BACKOFF_FAILED;
    if (protocol == MQTT_PROTOCOL_V311) {
        if (code == 4 || code == 5) r = HEARTH_BACKOFF_REFUSED_AUTH;
        else if (code == 3) r = HEARTH_BACKOFF_BUSY;
        else other = true;
    } else {
        switch (code) {
        case 0x86: case 0x87: case 0x8C: r = HEARTH_BACKOFF_REFUSED_AUTH; break;
        case 0x89: case 0x97: case 0x9F: r = HEARTH_BACKOFF_BUSY; break;
        default: other = true; break; /* incl. 0x9C/0x9D: use another server */
        }
    }
    if (use_other_server != NULL) *use_other_server = other;
    return r;
}

hearth_status hearth_link_start(const hearth_link_config *cfg, hearth_link **out)
{
    HEARTH_ENSURE(cfg != NULL && out != NULL && cfg->device_id != NULL && cfg->nbrokers >= 1 &&
                      cfg->nbrokers <= HEARTH_LINK_BROKERS_MAX && cfg->outbox != NULL && cfg->reqids != NULL &&
                      cfg->tls != NULL && cfg->command != NULL && (cfg->protocol == 4 || cfg->protocol == 5) &&
                      cfg->connect_timeout_ms <= HEARTH_LINK_CONNECT_TIMEOUT_MAX_MS,
                  hearth_err(HEARTH_ERR_INVALID, "link: incomplete configuration"));
    size_t il = strlen(cfg->device_id);
    HEARTH_ENSURE(il >= 1 && il <= HEARTH_LINK_ID_MAX && strspn(cfg->device_id,
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == il,
                  hearth_err(HEARTH_ERR_INVALID, "link: the device id cannot be a topic level"));
    *out = NULL;
    pthread_once(&lib_once, lib_init);
    hearth_link *l = calloc(1, sizeof *l);
    HEARTH_ENSURE(l != NULL, hearth_err(HEARTH_ERR_NOMEM, "link: out of memory"));
    l->cfg = *cfg;
    memcpy(l->id, cfg->device_id, il + 1);
    if (cfg->server_name != NULL) snprintf(l->server_name, sizeof l->server_name, "%s", cfg->server_name);
    snprintf(l->sw, sizeof l->sw, "%s", cfg->software_version != NULL ? cfg->software_version : "");
    l->cfg.device_id = l->id;
    l->cfg.server_name = NULL;
    l->cfg.software_version = NULL;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    hearth_backoff_config bc;
    hearth_backoff_config_default(&bc, "mqtt");
    bc.first_max_ms = cfg->first_delay_max_ms;
    if (cfg->backoff_base_ms > 0) bc.base_ms = cfg->backoff_base_ms;
    if (bc.cap_ms < bc.base_ms) bc.cap_ms = bc.base_ms;
    if (l->cfg.connect_timeout_ms == 0) l->cfg.connect_timeout_ms = HEARTH_LINK_CONNECT_TIMEOUT_MS;
    hearth_status st = hearth_backoff_init(&l->bo, &bc);
    if (st == HEARTH_OK) st = hearth_seclog_add_hook(seclog_hook, l);
    if (st != HEARTH_OK) goto fail;
    if (pthread_create(&l->thr, NULL, link_main, l) != 0) {
        hearth_seclog_remove_hook(seclog_hook, l);
        st = hearth_err(HEARTH_ERR_IO, "link: cannot start its thread");
        goto fail;
    }
    l->thr_started = true;
    *out = l;
    return HEARTH_OK;
fail:
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
    return st;
}

void hearth_link_stop(hearth_link *l)
{
    if (l == NULL) return;
    hearth_seclog_remove_hook(seclog_hook, l);
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->thr_started) pthread_join(l->thr, NULL);
    for (size_t i = 0; i < l->ev_count; i++) free(l->ev[(l->ev_head + i) % EV_RING]);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

bool hearth_link_connected(hearth_link *l)
{
    return l != NULL && atomic_load(&l->connected);
}
