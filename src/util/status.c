/* Status names and the thread-local failure reason. */
#include <stdarg.h>
#include <stdio.h>

#include "hearth/common.h"

#ifndef HEARTH_VERSION_STRING
#define HEARTH_VERSION_STRING "0.1.0"
#endif

static _Thread_local char err_msg[256];

const char *hearth_status_name(hearth_status st)
{
    switch (st) {
    case HEARTH_OK: return "ok";
    case HEARTH_ERR_INVALID: return "invalid";
    case HEARTH_ERR_IO: return "io";
    case HEARTH_ERR_CRYPTO: return "crypto";
    case HEARTH_ERR_NOMEM: return "nomem";
    case HEARTH_ERR_TAMPERED: return "tampered";
    case HEARTH_ERR_NOT_FOUND: return "not_found";
    case HEARTH_ERR_EXISTS: return "exists";
    case HEARTH_ERR_AUTH: return "auth";
    case HEARTH_ERR_LOCKED: return "locked";
    case HEARTH_ERR_BUSY: return "busy";
    case HEARTH_ERR_RANGE: return "range";
    case HEARTH_ERR_STATE: return "state";
    case HEARTH_ERR_TOO_LARGE: return "too_large";
    case HEARTH_ERR_UNSUPPORTED: return "unsupported";
    case HEARTH_ERR_ROLLBACK: return "rollback";
    case HEARTH_ERR_EXPIRED: return "expired";
    case HEARTH_ERR_FORBIDDEN: return "forbidden";
    case HEARTH_ERR_POLICY: return "policy";
    case HEARTH_ERR_REVOKED: return "revoked";
    case HEARTH_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}

/* (hearth_err): not the analyser's model of it in common.h */
hearth_status(hearth_err)(hearth_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return st;
}

const char *hearth_err_msg(void) { return err_msg; }

void hearth_err_clear(void) { err_msg[0] = '\0'; }

const char *hearth_version(void) { return HEARTH_VERSION_STRING; }
