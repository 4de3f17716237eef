/* Step 2 of the sandbox (include/hearth/sandbox.h): Landlock. The kernel's
 * ABI is queried and every access right it knows is handled (denied unless a
 * rule grants it); what it does not know is reported. Debian 12's
 * <linux/landlock.h> stops at ABI 2, so the later constants and the longer
 * ruleset attribute are defined here, guarded, from the kernel's uapi. */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hearth/sandbox.h"
#include "hearth/util.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13) /* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0) /* ABI 4 */
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif
#define HL_RULE_PATH_BENEATH 1
#define HL_RULE_NET_PORT 2 /* LANDLOCK_RULE_NET_PORT, ABI 4 */

/* struct landlock_ruleset_attr as of ABI 6; its size tells the kernel which
 * fields are there (8 bytes: ABI 1-3, 16: ABI 4-5, 24: ABI 6+). */
typedef struct {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
} hl_ruleset_attr;

typedef struct {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed)) hl_path_beneath_attr;

/* The kernel reads the members (landlock_add_rule): cppcheck cannot see it. */
typedef struct {
    uint64_t allowed_access; // cppcheck-suppress unusedStructMember
    uint64_t port;           // cppcheck-suppress unusedStructMember
} hl_net_port_attr;

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_WRITE                                                                               \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                           \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM |  \
     LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)
/* The rights that apply to a file (not a directory) rule. */
#define FS_FILE_RIGHTS                                                                \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                     \
     LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

int hearth_sandbox_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

/* Every filesystem right ABI @p abi knows. */
static uint64_t fs_rights(int abi)
{
    uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
    if (abi >= 2) r |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) r |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5) r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return r;
}

static void note(const char *prog, const char *what)
{
    fprintf(stderr, "%s: landlock: %s\n", prog ? prog : "hearth", what);
}

static hearth_status add_path(int rs, const hearth_sandbox_path *sp, uint64_t handled,
                              const char *prog)
{
    if (sp->rights & HEARTH_SANDBOX_CREATE) {
        int cfd = open(sp->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (cfd >= 0) close(cfd);
    }
    int fd = open(sp->path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        char m[600];
        snprintf(m, sizeof m, "%.500s: not there, no rule (%s)", sp->path, strerror(errno));
        note(prog, m);
        return HEARTH_OK;
    }
    struct stat st;
    uint64_t allow = 0;
    if (sp->rights & (HEARTH_SANDBOX_READ | HEARTH_SANDBOX_WRITE)) allow |= FS_READ;
    if (sp->rights & HEARTH_SANDBOX_WRITE) allow |= FS_WRITE;
    if (sp->rights & HEARTH_SANDBOX_EXEC) allow |= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return hearth_err(HEARTH_ERR_IO, "landlock: %s: %s", sp->path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) allow &= FS_FILE_RIGHTS;
    hl_path_beneath_attr pb = {.allowed_access = allow & handled, .parent_fd = fd};
    long r = pb.allowed_access == 0
                 ? 0
                 : syscall(SYS_landlock_add_rule, rs, HL_RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    if (r != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "landlock: rule for %s: %s", sp->path, strerror(e));
    return HEARTH_OK;
}

hearth_status hearth_sandbox_landlock(const hearth_sandbox_fs_policy *p)
{
    if (p == NULL || (p->npaths > 0 && p->paths == NULL) ||
        (p->nconnect_ports > 0 && p->connect_ports == NULL))
        return hearth_err(HEARTH_ERR_INVALID, "landlock: bad policy");
    const char *prog = p->program;
    int abi = hearth_sandbox_landlock_abi();
    if (abi <= 0) {
        note(prog, "not available in this kernel: file access is NOT restricted");
        return HEARTH_OK;
    }
    if (abi < 3) note(prog, "ABI < 3: truncate() is not restricted");
    if (abi < 4 && p->restrict_tcp) note(prog, "ABI < 4: TCP bind/connect are not restricted");
    if (abi < 5) note(prog, "ABI < 5: ioctl on device files is not restricted");
    if (abi < 6 && p->scope) note(prog, "ABI < 6: signals and abstract unix sockets are not scoped");

    hl_ruleset_attr attr = {.handled_access_fs = fs_rights(abi)};
    size_t attr_size = sizeof attr.handled_access_fs;
    if (abi >= 4) {
        attr_size = offsetof(hl_ruleset_attr, scoped);
        if (p->restrict_tcp)
            attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
    }
    if (abi >= 6) {
        attr_size = sizeof attr;
        if (p->scope) attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
    }
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs < 0) return hearth_err(HEARTH_ERR_INTERNAL, "landlock: create ruleset: %s", strerror(errno));
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; i < p->npaths && st == HEARTH_OK; i++)
        st = add_path(rs, &p->paths[i], attr.handled_access_fs, prog);
#ifdef HEARTH_SANITIZER_BUILD
    /* Sanitizer builds only: the ASan/LSan runtime reads /proc/<pid>/maps
     * and the task list, also in a program with no paths of its own
     * (hearth-fetch). A shipped build has no such runtime and no such rule. */
    static const hearth_sandbox_path san_proc = {"/proc", HEARTH_SANDBOX_READ};
    if (st == HEARTH_OK) st = add_path(rs, &san_proc, attr.handled_access_fs, prog);
#endif
    for (size_t i = 0; i < p->nconnect_ports && st == HEARTH_OK && attr.handled_access_net; i++) {
        hl_net_port_attr np = {.allowed_access = LANDLOCK_ACCESS_NET_CONNECT_TCP,
                               .port = p->connect_ports[i]};
        if (syscall(SYS_landlock_add_rule, rs, HL_RULE_NET_PORT, &np, 0) != 0)
            st = hearth_err(HEARTH_ERR_INTERNAL, "landlock: TCP port %u: %s",
                            (unsigned)p->connect_ports[i], strerror(errno));
    }
    if (st == HEARTH_OK && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        st = hearth_err(HEARTH_ERR_INTERNAL, "landlock: no_new_privs: %s", strerror(errno));
    if (st == HEARTH_OK && syscall(SYS_landlock_restrict_self, rs, 0) != 0)
        st = hearth_err(HEARTH_ERR_INTERNAL, "landlock: restrict_self: %s", strerror(errno));
    close(rs);
    return st;
}
