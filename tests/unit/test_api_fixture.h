/*
 * Test fixture shared by tests/unit/test_api.c and tests/fuzz/fuzz_api.c: a
 * freshly provisioned device in a temporary directory (CA, store, device key,
 * setup password), opened with auth, the thermostat application (registered
 * through hearth/app.h) and API, exactly as hearthd wires them, minus the
 * network. Header-only so both programs can include it.
 */
#ifndef HEARTH_TEST_API_FIXTURE_H
#define HEARTH_TEST_API_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hearth/api.h"
#include "hearth/identity.h"
#include "hearth/thermostat.h"
#include "hearth/util.h"

typedef struct {
    char dir[256];
    char setup_pw[HEARTH_SETUP_PW_MAX];
    hearth_device *dev;
    hearth_auth *auth;
    hearth_apps *apps;
    hearth_thermo *thermo; /* inside apps */
    hearth_api *api;
} api_fixture;

static int api_fixture_rm(const char *p, const struct stat *sb, int type, struct FTW *f)
{
    (void)sb;
    (void)type;
    (void)f;
    return remove(p);
}

/** Provision and open; returns 0 on success (messages on stderr otherwise). */
static int api_fixture_open(api_fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "%s/hearth-api-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(fx->dir) == NULL) return -1;
    if (hearth_seclog_open(NULL) != HEARTH_OK) return -1;
    char ca[300], out[300];
    snprintf(ca, sizeof ca, "%s/ca", fx->dir);
    snprintf(out, sizeof out, "%s/dev", fx->dir);
    hearth_label label;
    hearth_provision_opts o = {.ca_dir = ca, .out_dir = out, .model = "HT-100",
                               .rot = HEARTH_ROT_FILE};
    if (hearth_ca_init(ca, "Test CA") != HEARTH_OK ||
        hearth_device_provision(&o, &label) != HEARTH_OK ||
        hearth_device_open(out, &fx->dev) != HEARTH_OK) {
        fprintf(stderr, "fixture: %s\n", hearth_err_msg());
        return -1;
    }
    memcpy(fx->setup_pw, label.setup_password, sizeof fx->setup_pw);
    hearth_memzero(&label, sizeof label);
    hearth_auth_config acfg;
    hearth_auth_config_default(&acfg);
    acfg.serial = hearth_device_serial(fx->dev);
    static const hearth_app *const apps[] = {&hearth_thermostat_app};
    if (hearth_auth_open(hearth_device_store(fx->dev), &acfg, &fx->auth) != HEARTH_OK ||
        hearth_apps_open(apps, 1, hearth_device_store(fx->dev), NULL, NULL, NULL, &fx->apps) !=
            HEARTH_OK) {
        fprintf(stderr, "fixture: %s\n", hearth_err_msg());
        return -1;
    }
    fx->thermo = hearth_thermostat_app_thermo(hearth_apps_state(fx->apps, 0));
    hearth_api_config cfg = {.auth = fx->auth, .apps = fx->apps,
                             .model = hearth_device_model(fx->dev),
                             .serial = hearth_device_serial(fx->dev),
                             .hw_id = hearth_device_hw_id(fx->dev),
                             .fingerprint = hearth_device_fingerprint(fx->dev)};
    if (hearth_api_create(&cfg, &fx->api) != HEARTH_OK) return -1;
    return 0;
}

static void api_fixture_close(api_fixture *fx)
{
    hearth_api_destroy(fx->api);
    hearth_apps_close(fx->apps);
    hearth_auth_close(fx->auth);
    hearth_device_close(fx->dev);
    if (fx->dir[0]) nftw(fx->dir, api_fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
    memset(fx, 0, sizeof *fx);
}

#endif
