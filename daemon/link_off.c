/* HEARTH_WITH_LINK=OFF (docs/build-options.md): no MQTT link; every
 * --mqtt-* option is an unknown option. */
#include <stdio.h>

#include "link_glue.h"

int hearthd_link_args(const char *prog, int *argc, char **argv)
{
    (void)prog;
    (void)argc;
    (void)argv;
    return 0;
}

void hearthd_link_usage(FILE *f)
{
    (void)f;
}

void hearthd_link_sandbox(hearth_sandbox_path *paths, size_t cap, size_t *n, uint16_t *ports, size_t pcap,
                          size_t *np)
{
    (void)paths;
    (void)cap;
    (void)n;
    (void)ports;
    (void)pcap;
    (void)np;
}

int hearthd_link_start(hearth_device *dev, const char *state_dir, hearth_api *api, hearth_apps *apps)
{
    (void)dev;
    (void)state_dir;
    (void)api;
    (void)apps;
    return 0;
}

void hearthd_link_stop(void)
{
}

void hearthd_link_telemetry(const char *json, size_t len, void *arg)
{
    (void)json;
    (void)len;
    (void)arg;
}

hearth_status hearthd_link_send(const char *topic, int cls, const char *json, size_t len)
{
    (void)topic, (void)cls, (void)json, (void)len;
    return hearth_err(HEARTH_ERR_STATE, "built without the service link");
}

const char *hearthd_link_service_ca(void)
{
    return NULL;
}
