/*
 * hearthd's worker pool (server_internal.h). Routes that hash a password
 * run on HEARTHD_WORKERS threads with a bounded queue (beyond it the caller
 * answers 503 + Retry-After) and post their result back to the loop through
 * event_active(), so Argon2id never stalls the loop. A job holds a copy of
 * the request (the loop goes on reading the connection); every copy is
 * wiped when freed: passwords in the body, tokens in the reply.
 */
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"
#include "server_internal.h"

static void job_free(job *j)
{
    if (j == NULL) return;
    if (j->body) {
        hearth_memzero(j->body, j->body_len);
        free(j->body);
    }
    hearth_memzero(j, sizeof *j); /* passwords in the body, tokens in the reply */
    free(j);
}

static void *worker_main(void *arg)
{
    hearthd_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && s->q_head == NULL) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) break;
        job *j = s->q_head;
        s->q_head = j->next;
        if (s->q_head == NULL) s->q_tail = NULL;
        s->q_len--;
        pthread_mutex_unlock(&s->mu);

        hearth_api_request r = {
            .method = j->method,
            .path = j->path,
            .query = j->query,
            .authorization = j->authorization[0] ? j->authorization : NULL,
            .content_type = j->content_type[0] ? j->content_type : NULL,
            .body = j->body,
            .body_len = j->body_len,
            .source = j->source,
        };
        hearth_api_handle(s->api, &r, &j->resp);

        pthread_mutex_lock(&s->mu);
        j->next = s->done;
        s->done = j;
        event_active(s->done_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

hearth_status hearthd_workers_start(hearthd_server *s)
{
    for (size_t i = 0; i < HEARTHD_WORKERS; i++) {
        int e = pthread_create(&s->threads[i], NULL, worker_main, s);
        if (e != 0) return hearth_err(HEARTH_ERR_NOMEM, "worker thread: %s", strerror(e));
        s->nthreads++;
    }
    return HEARTH_OK;
}

/* Loop thread: send the replies the workers produced. */
void hearthd_workers_done_cb(evutil_socket_t fd, short what, void *server)
{
    (void)fd;
    (void)what;
    hearthd_server *s = server;
    pthread_mutex_lock(&s->mu);
    job *list = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->mu);
    while (list != NULL) {
        job *j = list;
        list = j->next;
        conn *c = hearthd_conn_of(s, j->req);
        if (c != NULL && c->busy > 0) c->busy--;
        /* A request whose client went away was detached by evhttp
         * (evcon NULL); evhttp_send_reply then just frees it. */
        hearthd_reply_send(s, j->req, &j->resp);
        job_free(j);
    }
}

void hearthd_workers_stop(hearthd_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < s->nthreads; i++) pthread_join(s->threads[i], NULL);
    s->nthreads = 0;
    /* Unanswered jobs: their requests are freed with their connections. */
    for (job *j = s->q_head, *n; j != NULL; j = n) {
        n = j->next;
        job_free(j);
    }
    for (job *j = s->done, *n; j != NULL; j = n) {
        n = j->next;
        job_free(j);
    }
    s->q_head = s->q_tail = s->done = NULL;
    s->q_len = 0;
}

static void copy_field(char *dst, size_t cap, const char *src, const char *too_long)
{
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    size_t n = strlen(src);
    /* Never truncate silently: an over-long value becomes one that the API
     * layer rejects on its own terms. */
    if (n >= cap) src = too_long, n = strlen(too_long);
    memcpy(dst, src, n + 1);
}

bool hearthd_workers_enqueue(hearthd_server *s, struct evhttp_request *req,
                             const hearth_api_request *r)
{
    job *j = calloc(1, sizeof *j);
    if (j == NULL) return false;
    j->req = req;
    copy_field(j->method, sizeof j->method, r->method, "INVALID");
    copy_field(j->path, sizeof j->path, r->path, "/");
    copy_field(j->query, sizeof j->query, r->query, "invalid");
    copy_field(j->authorization, sizeof j->authorization, r->authorization, "invalid");
    copy_field(j->content_type, sizeof j->content_type, r->content_type, "invalid/invalid");
    copy_field(j->source, sizeof j->source, r->source, "unknown");
    if (r->body_len > 0) {
        j->body = malloc(r->body_len);
        if (j->body == NULL) {
            job_free(j);
            return false;
        }
        memcpy(j->body, r->body, r->body_len);
        j->body_len = r->body_len;
    }
    pthread_mutex_lock(&s->mu);
    bool ok = s->q_len < HEARTHD_QUEUE_MAX && !s->stopping;
    if (ok) {
        if (s->q_tail) s->q_tail->next = j;
        else s->q_head = j;
        s->q_tail = j;
        s->q_len++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) job_free(j);
    return ok;
}
