/*
 * Opening a TPM connection. The transports are called directly, never
 * through tpm2-tss's loader (Tss2_TctiLdr_*), which dlopen()s a library
 * named by the configuration string: here the string only ever selects one
 * of four fixed transports and supplies validated options (tcti.c).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tcti_device.h>
#include <tss2/tss2_tcti_mssim.h>
#include <tss2/tss2_tcti_swtpm.h>

#include "tcti_open.h"

/* tpm2-abrmd's TCTI is not part of tpm2-tss; loaded by this fixed soname
 * through the system's library search path, never a configured name. */
#define TABRMD_SONAME "libtss2-tcti-tabrmd.so.0"

static pthread_once_t tabrmd_once = PTHREAD_ONCE_INIT;
static TSS2_TCTI_INIT_FUNC tabrmd_init;
static void *tabrmd_lib; /* never closed: tabrmd_init points into it */
static char tabrmd_why[160];

static void tabrmd_load(void)
{
    /* Kept loaded for the life of the process: contexts may outlive any one
     * caller, and a fixed library is loaded at most once. */
    void *h = dlopen(TABRMD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        snprintf(tabrmd_why, sizeof tabrmd_why, "%s", e != NULL ? e : "not found");
        return;
    }
    TSS2_TCTI_INFO_FUNC info = (TSS2_TCTI_INFO_FUNC)dlsym(h, TSS2_TCTI_INFO_SYMBOL);
    const TSS2_TCTI_INFO *i = info != NULL ? info() : NULL;
    if (i == NULL || i->init == NULL) {
        snprintf(tabrmd_why, sizeof tabrmd_why, "%s has no TCTI entry point", TABRMD_SONAME);
        dlclose(h);
        return;
    }
    tabrmd_lib = h;
    tabrmd_init = i->init;
}

static hearth_status pick_init(const hearth_tcti *t, TSS2_TCTI_INIT_FUNC *init)
{
    switch (t->kind) {
    case HEARTH_TCTI_DEVICE: *init = Tss2_Tcti_Device_Init; return HEARTH_OK;
    case HEARTH_TCTI_SWTPM: *init = Tss2_Tcti_Swtpm_Init; return HEARTH_OK;
    case HEARTH_TCTI_MSSIM: *init = Tss2_Tcti_Mssim_Init; return HEARTH_OK;
    case HEARTH_TCTI_TABRMD:
        pthread_once(&tabrmd_once, tabrmd_load);
        if (tabrmd_init == NULL)
            return hearth_err(HEARTH_ERR_UNSUPPORTED, "TPM connection %s: cannot load %s: %s",
                              t->text, TABRMD_SONAME, tabrmd_why);
        *init = tabrmd_init;
        return HEARTH_OK;
    }
    return hearth_err(HEARTH_ERR_INVALID, "unknown TPM transport");
}

hearth_status rot_tcti_resolve(const char *text, hearth_tcti *out)
{
    if (text != NULL && text[0] != '\0') return hearth_tcti_parse(text, out);
    hearth_platform p;
    HEARTH_GUARD(hearth_platform_load(&p));
    *out = p.tcti;
    return HEARTH_OK;
}

hearth_status rot_tcti_open(const hearth_tcti *t, TSS2_TCTI_CONTEXT **out)
{
    *out = NULL;
    /* Re-validate: only a parsed, canonical connection reaches a transport. */
    hearth_tcti chk;
    HEARTH_GUARD(hearth_tcti_parse(t->text, &chk));
    if (chk.kind != t->kind || strcmp(chk.conf, t->conf) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "TPM connection is not in canonical form");
    TSS2_TCTI_INIT_FUNC init = NULL;
    HEARTH_GUARD(pick_init(&chk, &init));
    size_t size = 0;
    TSS2_RC rc = init(NULL, &size, chk.conf);
    if (rc != TSS2_RC_SUCCESS || size == 0)
        return hearth_err(HEARTH_ERR_IO, "cannot reach the TPM via %s: %s", chk.text,
                          Tss2_RC_Decode(rc));
    TSS2_TCTI_CONTEXT *ctx = calloc(1, size);
    if (ctx == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    rc = init(ctx, &size, chk.conf);
    if (rc != TSS2_RC_SUCCESS) {
        free(ctx);
        return hearth_err(HEARTH_ERR_IO, "cannot reach the TPM via %s: %s", chk.text,
                          Tss2_RC_Decode(rc));
    }
    *out = ctx;
    return HEARTH_OK;
}

void rot_tcti_close(TSS2_TCTI_CONTEXT **ctx)
{
    if (ctx == NULL || *ctx == NULL) return;
    Tss2_Tcti_Finalize(*ctx);
    free(*ctx);
    *ctx = NULL;
}
