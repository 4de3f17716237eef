/*
 * Test payload for hearth-boot tests: stands in for hearthd in a slot so the
 * boot tests do not depend on the daemon. Invoked as
 *   <prog> --state DIR --slot a|b [extra args...]
 * Behaviour comes from <state>/payload-mode.<slot>, else <state>/payload-mode,
 * else $HEARTH_TEST_PAYLOAD_MODE, else "confirm-exit":
 *   confirm-exit    confirm the slot, exit 0
 *   confirm-wait    confirm, then wait for SIGTERM (exit 0)
 *   confirm-listen  confirm, listen on 127.0.0.1 (ephemeral port), wait
 *   noconfirm-wait  never confirm, wait for SIGTERM
 *   noconfirm-exit  exit 0 without confirming
 *   crash           abort() at start, before confirming
 *   restart         exit 75 (restart request) without confirming
 *   confirm-restart confirm, then exit 75
 *   restart-once    first start: exit 75 (as the updater does after staging);
 *                   later starts (marker <state>/payload-restarted.<slot>): confirm-exit
 * Every start appends "<slot> <mode> <pid> confirm=<ok|fail:reason|no> args=<n>"
 * to <state>/payload.log.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hearth/slots.h"
#include "hearth/util.h"

static volatile sig_atomic_t term;
static void on_term(int s)
{
    (void)s;
    term = 1;
}

static void read_mode(const char *state, const char *slot, char *mode, size_t cap)
{
    char p[4096];
    const char *env = getenv("HEARTH_TEST_PAYLOAD_MODE");
    snprintf(mode, cap, "%s", env ? env : "confirm-exit");
    for (int i = 0; i < 2; i++) {
        if (i == 0)
            snprintf(p, sizeof p, "%s/payload-mode.%s", state, slot);
        else
            snprintf(p, sizeof p, "%s/payload-mode", state);
        FILE *f = fopen(p, "r");
        if (f == NULL) continue;
        if (fgets(mode, (int)cap, f) == NULL) mode[0] = '\0';
        fclose(f);
        mode[strcspn(mode, "\r\n ")] = '\0';
        return;
    }
}

static void log_line(const char *state, const char *line)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/payload.log", state);
    FILE *f = fopen(p, "a");
    if (f == NULL) return;
    fputs(line, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    const char *state = NULL, *slotname = NULL;
    int extra = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
            state = argv[++i];
        else if (strcmp(argv[i], "--slot") == 0 && i + 1 < argc)
            slotname = argv[++i];
        else
            extra++;
    }
    int slot;
    if (state == NULL || hearth_slot_parse(slotname, &slot) != HEARTH_OK) {
        fprintf(stderr, "boot_payload: need --state DIR --slot a|b\n");
        return 2;
    }
    char mode[64];
    read_mode(state, slotname, mode, sizeof mode);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);

    if (strcmp(mode, "restart-once") == 0) {
        char marker[4096];
        snprintf(marker, sizeof marker, "%s/payload-restarted.%s", state, slotname);
        FILE *mf = fopen(marker, "r");
        if (mf == NULL) {
            mf = fopen(marker, "w");
            if (mf) fclose(mf);
            snprintf(mode, sizeof mode, "restart");
        } else {
            fclose(mf);
            snprintf(mode, sizeof mode, "confirm-exit");
        }
    }
    char confirm[200] = "no";
    bool do_confirm = strncmp(mode, "confirm", 7) == 0;
    if (strcmp(mode, "crash") == 0) {
        char line[256];
        snprintf(line, sizeof line, "%s %s %d confirm=no args=%d\n", slotname, mode,
                 (int)getpid(), extra);
        log_line(state, line);
        abort();
    }
    if (do_confirm) {
        hearth_slots *s = NULL;
        hearth_status st = hearth_slots_open(state, &s);
        if (st == HEARTH_OK) st = hearth_slots_confirm(s, slot);
        if (st == HEARTH_OK)
            snprintf(confirm, sizeof confirm, "ok");
        else
            snprintf(confirm, sizeof confirm, "fail:%s", hearth_status_name(st));
        hearth_slots_close(s);
    }
    int lfd = -1, port = 0;
    if (strcmp(mode, "confirm-listen") == 0) {
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t al = sizeof a;
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4) != 0 ||
            getsockname(lfd, (struct sockaddr *)&a, &al) != 0) {
            perror("boot_payload: listen");
            return 1;
        }
        port = ntohs(a.sin_port);
    }
    char line[320];
    snprintf(line, sizeof line, "%s %s %d confirm=%s args=%d port=%d\n", slotname, mode,
             (int)getpid(), confirm, extra, port);
    log_line(state, line);

    if (strcmp(mode, "restart") == 0 || strcmp(mode, "confirm-restart") == 0)
        return HEARTH_SLOTS_EXIT_RESTART;
    if (strcmp(mode, "confirm-exit") == 0 || strcmp(mode, "noconfirm-exit") == 0)
        return strcmp(confirm, "no") == 0 || strcmp(confirm, "ok") == 0 ? 0 : 1;
    while (!term) pause();
    if (lfd >= 0) close(lfd);
    return 0;
}
