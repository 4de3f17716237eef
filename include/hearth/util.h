/**
 * @file util.h
 * @brief Crash-safe file I/O, bounded parsing cursor, encodings, fault
 *        injection points and the security-event log.
 */
#ifndef HEARTH_UTIL_H
#define HEARTH_UTIL_H

#include <sys/types.h>
#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- files */

/**
 * Replace @p path atomically and durably: write a temporary file in the same
 * directory, fsync it, rename it over @p path and fsync the directory. After a
 * crash at any point the file holds either its old or its new content.
 * Fault points (see hearth_fault_point()): "fs.tmp_open", "fs.write",
 * "fs.fsync", "fs.rename", "fs.dirsync".
 * @param[in] path  destination
 * @param[in] data  content
 * @param[in] len   content length
 * @param[in] mode  permission bits for the new file (e.g. 0600)
 */
hearth_status hearth_fs_write_atomic(const char *path, const void *data, size_t len,
                                     mode_t mode) HEARTH_MUST_CHECK;
/**
 * hearth_fs_write_atomic() for callers that must report exactly what a
 * restart loads. The rename is the commit point: HEARTH_OK means @p path now
 * holds the new content (it is what a reopen reads). *@p durable tells
 * whether the directory fsync after the rename succeeded (tried twice); when
 * it is false the new content is in place but a power cut could still bring
 * the old directory entry back, so the caller must sync the directory
 * (hearth_fs_sync_dir()) before it relies on durability again. An error
 * means the rename did not happen and @p path is unchanged.
 */
hearth_status hearth_fs_replace(const char *path, const void *data, size_t len, mode_t mode,
                                bool *durable) HEARTH_MUST_CHECK;
/**
 * Read a whole regular file of at most @p max bytes into a malloc'd buffer
 * (NUL-terminated for convenience; the NUL is not counted in @p len).
 * Fails with HEARTH_ERR_TOO_LARGE if the file is larger than @p max and with
 * HEARTH_ERR_NOT_FOUND if it does not exist. Caller frees with free().
 */
hearth_status hearth_fs_read_file(const char *path, size_t max, uint8_t **out,
                                  size_t *len) HEARTH_MUST_CHECK;
/**
 * write(2) all of @p len bytes, retrying on EINTR and short writes. On
 * failure: HEARTH_ERR_IO, the message naming @p what (a path or "stdout");
 * errno is left as write(2) set it.
 */
hearth_status hearth_fd_write_all(int fd, const void *data, size_t len,
                                  const char *what) HEARTH_MUST_CHECK;
/** fsync a directory (after creating/renaming entries in it). */
hearth_status hearth_fs_sync_dir(const char *dir) HEARTH_MUST_CHECK;
/**
 * Remove the temporary files hearth_fs_write_atomic()/hearth_fs_replace()
 * leave in @p dir when a replacement of @p dir/@p name was interrupted
 * before its rename ("<name>.tmp.*": a complete or torn copy that never
 * became current), then sync the directory (best effort).
 * @return true when at least one was removed (the caller logs that).
 */
bool hearth_fs_remove_stale_temps(const char *dir, const char *name);
/** mkdir -p with @p mode for every created component. */
hearth_status hearth_fs_mkdirs(const char *path, mode_t mode) HEARTH_MUST_CHECK;
/** snprintf into @p buf, failing with HEARTH_ERR_TOO_LARGE on truncation. */
hearth_status hearth_path_join(char *buf, size_t cap, const char *dir,
                               const char *name) HEARTH_MUST_CHECK;

/* ------------------------------------------------------ fault injection */

/**
 * Named crash point for fault tests (SQLite/MCUboot style). Each call counts
 * one point. When the environment variable HEARTH_FAULT_KILL_AT=N is set, the
 * N-th point reached (1-based) raises SIGKILL on the process. When
 * HEARTH_FAULT_TRACE=path is set, each point's ordinal and name is appended
 * to that file, so a test can enumerate every kill point of an operation.
 * HEARTH_FAULT_SLEEP=name:ms makes every pass through point "name" sleep ms
 * milliseconds (1..60000), so a test can measure what waits for that step.
 * When HEARTH_FAULT_STOP_AT=name is set, the process stops itself (SIGSTOP)
 * at every point of that name, so a test can act at exactly that moment
 * (e.g. rewrite a file between verification and use) and then SIGCONT it.
 * Costs one branch when none of the variables is set.
 *
 * The points read the environment only in a build with HEARTH_TEST_HOOKS=ON
 * (the test configurations of scripts/test.sh; docs/build-options.md). By
 * default, and in what ships, both functions do nothing and no HEARTH_FAULT_
 * name is in any binary (tests/hardening/test_no_test_hooks.sh).
 */
void hearth_fault_point(const char *name);
/**
 * Named failure point for fault tests: true when the environment variable
 * HEARTH_FAULT_FAIL holds @p name (a comma-separated list of names), in
 * which case the caller fails that step as if the OS had failed it (e.g.
 * "fs.dirsync": the directory fsync reports EIO). Never true otherwise.
 */
bool hearth_fault_fail(const char *name);
/**
 * The file HEARTH_FAULT_TRACE names (appended to at every fault point), or
 * NULL when tracing is off: a sandboxed program must keep it writable.
 */
const char *hearth_fault_trace_file(void);

/* ------------------------------------------------------- bounded cursor */

/**
 * Read-only cursor over untrusted bytes (s2n_stuffer style): every read checks
 * the remaining length first and fails with HEARTH_ERR_INVALID on short input.
 * All integers are big-endian.
 */
typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
} hearth_cursor;

void hearth_cursor_init(hearth_cursor *c, const void *data, size_t len);
size_t hearth_cursor_remaining(const hearth_cursor *c);
hearth_status hearth_cursor_u8(hearth_cursor *c, uint8_t *out) HEARTH_MUST_CHECK;
hearth_status hearth_cursor_u16(hearth_cursor *c, uint16_t *out) HEARTH_MUST_CHECK;
hearth_status hearth_cursor_u32(hearth_cursor *c, uint32_t *out) HEARTH_MUST_CHECK;
hearth_status hearth_cursor_u64(hearth_cursor *c, uint64_t *out) HEARTH_MUST_CHECK;
/** Copy @p n bytes out. */
hearth_status hearth_cursor_copy(hearth_cursor *c, void *out, size_t n) HEARTH_MUST_CHECK;
/** Borrow a pointer to the next @p n bytes and advance. */
hearth_status hearth_cursor_ptr(hearth_cursor *c, size_t n,
                                const uint8_t **out) HEARTH_MUST_CHECK;

/** Growable output buffer with a hard maximum (curl dynbuf style). */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
} hearth_buf;

void hearth_buf_init(hearth_buf *b, size_t max);
hearth_status hearth_buf_append(hearth_buf *b, const void *p, size_t n) HEARTH_MUST_CHECK;
hearth_status hearth_buf_u8(hearth_buf *b, uint8_t v) HEARTH_MUST_CHECK;
hearth_status hearth_buf_u16(hearth_buf *b, uint16_t v) HEARTH_MUST_CHECK;
hearth_status hearth_buf_u32(hearth_buf *b, uint32_t v) HEARTH_MUST_CHECK;
hearth_status hearth_buf_u64(hearth_buf *b, uint64_t v) HEARTH_MUST_CHECK;
/** Wipe and free the buffer's memory. */
void hearth_buf_free(hearth_buf *b);

/** Big-endian fixed-width codecs for byte arrays (formats on disk and in NV). */
void hearth_be32_put(uint8_t out[4], uint32_t v);
void hearth_be64_put(uint8_t out[8], uint64_t v);
uint32_t hearth_be32_get(const uint8_t in[4]);
uint64_t hearth_be64_get(const uint8_t in[8]);

/* ------------------------------------------------------------ encodings */

/** Lower-case hex; @p out needs 2*n+1 bytes. */
hearth_status hearth_hex_encode(const uint8_t *in, size_t n, char *out,
                                size_t cap) HEARTH_MUST_CHECK;
/** Decode exactly 2*@p n hex digits into @p out[n]. */
hearth_status hearth_hex_decode(const char *in, uint8_t *out, size_t n) HEARTH_MUST_CHECK;
/** base64url without padding; @p out needs 4*ceil(n/3)+1 bytes. */
hearth_status hearth_b64url_encode(const uint8_t *in, size_t n, char *out,
                                   size_t cap) HEARTH_MUST_CHECK;
/** Decode base64url (no padding); fails on any non-alphabet byte. */
hearth_status hearth_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap,
                                   size_t *outlen) HEARTH_MUST_CHECK;
/** SHA-256 of a buffer (OpenSSL EVP). */
hearth_status hearth_sha256(const void *in, size_t n, uint8_t out[32]) HEARTH_MUST_CHECK;

/* ------------------------------------------- process and secret memory */

/**
 * Call first thing in every program that holds a secret (hearthd,
 * hearth-boot, hearth-fetch, the hearth CLI): sets RLIMIT_CORE to 0 (soft and
 * hard) and PR_SET_DUMPABLE to 0, so a crash writes no core file (not even
 * to a core_pattern pipe) and other processes of the same user cannot
 * ptrace it or read its memory. Both survive fork(), not execve().
 * @return HEARTH_OK, or HEARTH_ERR_INTERNAL: the caller must not continue.
 */
hearth_status hearth_process_harden(void) HEARTH_MUST_CHECK;

/**
 * malloc/realloc/free that wipe every block when it is freed or moved (the
 * size lives in a 16-byte header in front of the block). For libraries that
 * take allocator hooks and hold secrets in what they allocate: cJSON (the
 * json module installs them for the whole process, see json.h) and libevent
 * (hearthd, event_set_mem_functions). Blocks from hearth_wipe_malloc must be
 * released with hearth_wipe_free only.
 */
void *hearth_wipe_malloc(size_t n);
void *hearth_wipe_realloc(void *p, size_t n);
void hearth_wipe_free(void *p);

/* ------------------------------------------------------ security events */

/** Severity of a security event. */
typedef enum { HEARTH_SEV_INFO, HEARTH_SEV_WARNING, HEARTH_SEV_ALERT } hearth_severity;

/**
 * Open (append) the structured security-event log: one JSON object per line
 * with fields ts, seq, severity, event, and the given key/value strings.
 * @p path NULL logs to stderr only. Thread-safe. Values are JSON-escaped and
 * truncated to 128 bytes each; callers never pass passwords, tokens or keys.
 */
hearth_status hearth_seclog_open(const char *path) HEARTH_MUST_CHECK;
void hearth_seclog_close(void);
/** Default cap of the log on disk: the file plus its one rotated copy. */
#define HEARTH_SECLOG_CAP_DEFAULT (1024u * 1024u)
/** Smallest accepted cap (a few hundred lines). */
#define HEARTH_SECLOG_CAP_MIN (16u * 1024u)
/**
 * Bound the log on disk to @p cap bytes in total (default
 * HEARTH_SECLOG_CAP_DEFAULT, HEARTH_SECLOG_CAP_MIN..1 GiB): when the next
 * line would take the file past @p cap / 2 it is renamed to "<path>.1"
 * (replacing the older copy) and a new file is started, so the file and its
 * copy never exceed @p cap together. Lines are whole JSON objects; a rotation
 * never splits one. Applies to the open log and later opens.
 */
hearth_status hearth_seclog_set_cap(size_t cap) HEARTH_MUST_CHECK;
/**
 * Append one event. @p kv is a NULL-terminated list of key, value pairs:
 * `hearth_seclog(HEARTH_SEV_WARNING, "login_failed", "source", ip, "user", u, NULL)`.
 */
void hearth_seclog(hearth_severity sev, const char *event, ...) __attribute__((sentinel));
/**
 * A subscriber called for every event with its JSON line (no newline; the
 * personal values in clear, unlike the file), e.g. to count events or
 * forward them to the service without the personal fields. Called with
 * the log's lock held, on the thread that logged: it must be quick and must
 * not log itself.
 */
typedef void (*hearth_seclog_hook)(hearth_severity sev, const char *json_line, void *arg);
/** Most subscribers at once. */
#define HEARTH_SECLOG_HOOKS_MAX 8
/** Subscribe @p hook with @p arg (HEARTH_ERR_BUSY when all slots are taken). */
hearth_status hearth_seclog_add_hook(hearth_seclog_hook hook, void *arg) HEARTH_MUST_CHECK;
/** Unsubscribe the pair @p hook, @p arg (no-op if not subscribed). */
void hearth_seclog_remove_hook(hearth_seclog_hook hook, const void *arg);

/* Personal fields (docs/security-log.md). The values of fields that name a
 * person or their network address (hearth_seclog_field_personal) are
 * written to the file sealed: "hse1:" + base64url(nonce 12 | AES-256-GCM
 * ciphertext | tag 16) under the key given to hearth_seclog_set_key(), so
 * destroying that key (a factory reset destroys the store it comes from)
 * crypto-erases them. Without a key they are written as "(withheld)". The
 * associated data binds each value to its field name and to the rest of the
 * line ("hearth.seclog.v1", 0, name, 0, the line with every sealed value
 * written as ""). Hooks get the line with the values in clear. */
/** Length of the field key. */
#define HEARTH_SECLOG_KEY_LEN 32
/** Prefix of a sealed value (format 1: AES-256-GCM, 12-byte nonce, 16-byte tag). */
#define HEARTH_SECLOG_SEALED_PREFIX "hse1:"
/** What a personal field holds when no key was set. */
#define HEARTH_SECLOG_WITHHELD "(withheld)"
/** What the reader shows for a sealed value it cannot open. */
#define HEARTH_SECLOG_UNREADABLE "(unreadable)"
/** Largest sealed value, with its prefix and terminator. */
#define HEARTH_SECLOG_SEALED_MAX 224
/** Largest line hearth_seclog() writes to the file (without the newline). */
#define HEARTH_SECLOG_FILE_LINE_MAX 4096
/** Largest line hearth_seclog_line_open() produces. */
#define HEARTH_SECLOG_OPEN_LINE_MAX 8192
/** HKDF info label of the key hearthd derives from its store secret. */
#define HEARTH_SECLOG_KDF_INFO "hearth seclog fields v1"
/** The store record holding that secret (32 random bytes). */
#define HEARTH_SECLOG_SECRET_RECORD "seclog.field_secret"
/** True if field @p name names a person or a network address (user, by, source, ...). */
bool hearth_seclog_field_personal(const char *name);
/** Seal the fields of the lines written from now on under @p key
 * (HEARTH_SECLOG_KEY_LEN bytes, copied); NULL forgets (wipes) the key. */
void hearth_seclog_set_key(const uint8_t *key);
/**
 * Seal @p value_len bytes of @p value (at most 128) for field @p name of the
 * line whose template is @p tmpl, with a fresh random nonce.
 * @param[out] out  NUL-terminated "hse1:..." (HEARTH_SECLOG_SEALED_MAX bytes suffice)
 */
hearth_status hearth_seclog_field_seal(const uint8_t *key, const char *name, const char *tmpl,
                                       const char *value, size_t value_len, char *out,
                                       size_t cap) HEARTH_MUST_CHECK;
/**
 * Open a sealed value @p sealed (@p sealed_len bytes, with its prefix).
 * HEARTH_ERR_TAMPERED when it does not verify (other key, other field or
 * line, changed), HEARTH_ERR_INVALID when it is not a sealed value.
 * @param[out] out      the value's bytes, NUL-terminated; wiped on failure
 * @param[out] out_len  their number
 */
hearth_status hearth_seclog_field_open(const uint8_t *key, const char *name, const char *tmpl,
                                       const char *sealed, size_t sealed_len, char *out,
                                       size_t cap, size_t *out_len) HEARTH_MUST_CHECK;
/**
 * One line of the file as an admin reads it: each sealed value opened with
 * @p key (NULL: none), or, when it does not open, replaced by
 * "(unreadable)" with the field's name listed in an added
 * "unreadable":[...] member. Lines in the older plain format, and values
 * "(withheld)", come out as they are.
 * @param[out] unreadable  fields that did not open (may be NULL)
 * @return HEARTH_ERR_INVALID if @p line is not a flat JSON object of the
 *         log's form (nothing written to @p out then).
 */
hearth_status hearth_seclog_line_open(const uint8_t *key, const char *line, char *out, size_t cap,
                                      size_t *unreadable) HEARTH_MUST_CHECK;
/**
 * Visit the newest @p limit lines (1..1024) of the open log file and its
 * rotated copy, oldest first, each through hearth_seclog_line_open() with
 * the key set; a line that is not of the log's form is visited as
 * {"severity":"warning","event":"log_line_unreadable"}.
 * @return HEARTH_ERR_STATE when the log is not a file (stderr).
 */
hearth_status hearth_seclog_recent(size_t limit, void (*fn)(const char *line, void *arg),
                                   void *arg) HEARTH_MUST_CHECK;
/**
 * HKDF-SHA256 (OpenSSL) of @p ikm with @p salt and @p info (strings): the
 * derivation of every key the device takes from a secret in its store
 * (hearth_store_secret_key()).
 */
hearth_status hearth_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const char *salt,
                                 const char *info, uint8_t *out, size_t out_len) HEARTH_MUST_CHECK;

/* -------------------------------------------------------- worker threads */

#include <pthread.h>

/**
 * A worker thread of an object that keeps the thread's flags itself, under
 * its own lock. Every pointer is borrowed from the owner. The thread body
 * reads *stop under *mu and waits on *cv, so hearth_thread_stop() can wake it.
 */
typedef struct {
    pthread_mutex_t *mu; /**< the owner's lock; guards *running and *stop */
    pthread_cond_t *cv;  /**< broadcast when a stop is requested */
    pthread_t *thread;
    bool *running;       /**< true from a successful start until stop returns */
    bool *stop;          /**< the stop request the thread body polls */
} hearth_thread;

/**
 * Initialise the @p n mutexes @p mus (default attributes). On a failure the
 * ones already made are destroyed again and HEARTH_ERR_NOMEM is returned, so
 * a constructor has nothing of them to unwind.
 */
hearth_status hearth_mutexes_init(pthread_mutex_t *const *mus, size_t n) HEARTH_MUST_CHECK;
/** Destroy the @p n mutexes @p mus (the counterpart of hearth_mutexes_init). */
void hearth_mutexes_destroy(pthread_mutex_t *const *mus, size_t n);

/**
 * Clear *stop and start @p fn(@p arg). HEARTH_ERR_STATE when the thread is
 * already running ("<what> already running"), HEARTH_ERR_INTERNAL when it
 * cannot be created.
 */
hearth_status hearth_thread_start(const hearth_thread *t, void *(*fn)(void *), void *arg,
                                  const char *what) HEARTH_MUST_CHECK;

/**
 * Set *stop, wake the thread (broadcast *cv), join it if it runs and clear
 * *running. Safe when it never started or was stopped already.
 */
void hearth_thread_stop(const hearth_thread *t);

/* ------------------------------------------------ untrusted input bounds */

/**
 * hearth_cursor_init() for a whole untrusted object with a size limit: when
 * @p len exceeds @p max, fails with @p too_large and "WHAT of N bytes (max
 * MAX)" and leaves @p c empty, so nothing of the object is read.
 */
hearth_status hearth_cursor_init_max(hearth_cursor *c, const void *data, size_t len, size_t max,
                                     hearth_status too_large,
                                     const char *what) HEARTH_MUST_CHECK;

/** The bytes a text field checked by hearth_text_check() may hold. */
typedef enum {
    HEARTH_TEXT_NO_CONTROL,    /**< anything but C0 controls and DEL (UTF-8 allowed) */
    HEARTH_TEXT_GRAPHIC_ASCII, /**< 0x21..0x7e: no space, control or non-ASCII byte */
} hearth_text_bytes;

/**
 * Check a NUL-terminated text field named @p what: 1..@p max bytes, every
 * byte of class @p bytes. Errors: HEARTH_ERR_INVALID "WHAT is empty" (also
 * for NULL), @p too_long "WHAT longer than MAX bytes", HEARTH_ERR_INVALID
 * "WHAT contains a control byte" / "WHAT holds a space, control or
 * non-ASCII byte". On success *@p len (if not NULL) is its length.
 */
hearth_status hearth_text_check(const char *s, size_t max, hearth_text_bytes bytes,
                                hearth_status too_long, const char *what,
                                size_t *len) HEARTH_MUST_CHECK;

/** Value of one hex digit (0-9, a-f, A-F), or -1 for any other character. */
int hearth_hex_digit(char c);

#ifdef __cplusplus
}
#endif
#endif
