/* `hearth provision`: factory-provision one device and print its label once
 * (EN 303 645 5.1-1, 5.1-2, 5.4-4, 5.3-16). Label formats:
 * docs/label-format.md. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdbool.h>

#include "commands.h"
#include "hearth/identity.h"
#include "hearth/util.h"

static void provision_usage(FILE *f)
{
    fprintf(f,
            "usage: hearth provision --ca DIR --out STATE_DIR --model M [--serial S]\n"
            "                        [--hw-id H] [--rot file|tpm] [--tcti CONF]\n"
            "                        [--label text|qr|json]\n\n"
            "Create a device state directory (must not exist or be empty): root of trust,\n"
            "secure store, device key and CA-signed certificate, setup password. The label\n"
            "(model, serial, setup password, certificate fingerprint) is printed once to\n"
            "stdout; only a hash of the password is kept. Exit: 0 ok, 1 error, 2 usage.\n"
            "  --rot   root of trust; default: this platform's (HEARTH_ROT, else the build's).\n"
            "          The device only opens on a platform configured for the same kind.\n"
            "  --tcti  TPM connection for provisioning only (device:/dev/..., swtpm:...,\n"
            "          mssim:..., tabrmd:...); not recorded: the device always uses its\n"
            "          platform's (HEARTH_TPM_TCTI, else the build's).\n");
}

/* Unbuffered write, so no copy of the label lingers in a stdio buffer. */
static int put_text(int fd, const char *s, size_t n)
{
    return hearth_fd_write_all(fd, s, n, "output") == HEARTH_OK ? 0 : -1;
}

/* Render @p payload as a QR code with `qrencode -t UTF8`, passing it on
 * stdin (never in argv, which other users can read in /proc). Fixed argv via
 * posix_spawnp, no shell. Returns 0 if qrencode ran successfully. */

static int qr_render(const char *payload)
{
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[0], STDIN_FILENO);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    posix_spawn_file_actions_addclose(&fa, pfd[1]);
    char *const qargv[] = {"qrencode", "-t", "UTF8", NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "qrencode", &fa, NULL, qargv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[0]);
    if (rc != 0) {
        close(pfd[1]);
        return -1;
    }
    /* A failing reader must not kill us with SIGPIPE. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGPIPE, &ign, &old);
    int wr = put_text(pfd[1], payload, strlen(payload));
    close(pfd[1]);
    sigaction(SIGPIPE, &old, NULL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return (wr == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : -1;
}

static int print_label(const hearth_label *label, const char *fmt)
{
    char buf[1024];
    hearth_status st = HEARTH_OK;
    int rc = 0;
    if (strcmp(fmt, "json") == 0) {
        st = hearth_label_json(label, buf, sizeof buf);
        if (st == HEARTH_OK) rc = put_text(STDOUT_FILENO, buf, strlen(buf));
    } else {
        st = hearth_label_format(label, buf, sizeof buf);
        if (st == HEARTH_OK) rc = put_text(STDOUT_FILENO, buf, strlen(buf));
        if (st == HEARTH_OK && rc == 0 && strcmp(fmt, "qr") == 0) {
            char payload[512];
            st = hearth_label_qr_payload(label, payload, sizeof payload);
            if (st == HEARTH_OK) {
                rc = put_text(STDOUT_FILENO, "QR payload:     ", 16) ||
                     put_text(STDOUT_FILENO, payload, strlen(payload)) ||
                     put_text(STDOUT_FILENO, "\n", 1);
                /* qrencode missing: the payload line above is the fallback. */
                if (rc == 0) (void)qr_render(payload);
            }
            hearth_memzero(payload, sizeof payload);
        }
    }
    hearth_memzero(buf, sizeof buf);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth provision: %s\n", hearth_err_msg());
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "hearth provision: cannot write the label to stdout: %s\n",
                strerror(errno));
        return 1;
    }
    return 0;
}

/* A device whose label was never printed has a setup password nobody
 * knows: undo the provisioning rather than leave an unusable device (the
 * directory itself only if provisioning created it). */
static void undo_provision(const char *dir, bool existed)
{
    hearth_device_discard(dir, !existed);
}

int hearth_cmd_provision(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ca", required_argument, NULL, 'c'},     {"out", required_argument, NULL, 'o'},
        {"model", required_argument, NULL, 'm'},  {"serial", required_argument, NULL, 's'},
        {"hw-id", required_argument, NULL, 'w'},  {"rot", required_argument, NULL, 'r'},
        {"tcti", required_argument, NULL, 't'},   {"label", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    hearth_platform plat;
    if (hearth_platform_load(&plat) != HEARTH_OK) {
        fprintf(stderr, "hearth provision: %s\n", hearth_err_msg());
        return 1;
    }
    hearth_provision_opts o = {.rot = plat.rot};
    const char *label_fmt = "text";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o.ca_dir = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case 'm': o.model = optarg; break;
        case 's': o.serial = optarg; break;
        case 'w': o.hw_id = optarg; break;
        case 't': o.tpm_tcti = optarg; break;
        case 'r':
            if (strcmp(optarg, "file") == 0) {
                o.rot = HEARTH_ROT_FILE;
            } else if (strcmp(optarg, "tpm") == 0) {
                o.rot = HEARTH_ROT_TPM;
            } else {
                fprintf(stderr, "hearth provision: --rot must be 'file' or 'tpm'\n");
                return 2;
            }
            break;
        case 'l':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "qr") != 0 &&
                strcmp(optarg, "json") != 0) {
                fprintf(stderr, "hearth provision: --label must be 'text', 'qr' or 'json'\n");
                return 2;
            }
            label_fmt = optarg;
            break;
        case 'h': provision_usage(stdout); return 0;
        case ':':
            fprintf(stderr, "hearth provision: option '%s' needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "hearth provision: unknown option '%s'\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hearth provision: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o.ca_dir == NULL || o.out_dir == NULL || o.model == NULL) {
        fprintf(stderr, "hearth provision: --ca, --out and --model are required\n\n");
        provision_usage(stderr);
        return 2;
    }
    if (o.tpm_tcti != NULL && o.rot != HEARTH_ROT_TPM) {
        fprintf(stderr, "hearth provision: --tcti only applies with --rot tpm\n");
        return 2;
    }

    struct stat sb;
    bool existed = lstat(o.out_dir, &sb) == 0;
    hearth_label label;
    hearth_status st = hearth_device_provision(&o, &label);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth provision: %s (%s); nothing was created\n", hearth_err_msg(),
                hearth_status_name(st));
        return 1;
    }
    int rc = print_label(&label, label_fmt);
    hearth_memzero(&label, sizeof label);
    if (rc != 0) {
        undo_provision(o.out_dir, existed);
        fprintf(stderr, "hearth provision: the label was not printed, so %s was removed\n",
                o.out_dir);
    }
    return rc;
}
