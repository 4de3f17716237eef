/* fleet_telemetry_pub: the device fleet's telemetry for bench_fleet_ingest.sh.
 * Publishes N telemetry/v1 reports (docs/telemetry/schema-v1.json: listening
 * ports, traffic counters, the broker connection, login, update and
 * integrity counters, memory, uptime), round-robin from D device ids, to
 * hearth/<id>/telemetry at QoS 1 as devices do, over mutual TLS, keeping at
 * most WINDOW unacknowledged. One connection stands in for the fleet: the
 * benchmark's broker lets its certificate write under every id.
 * Usage: fleet_telemetry_pub HOST PORT CA CERT KEY DEVICES MESSAGES */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#define WINDOW 2000

static volatile int acked;

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
    (void)m, (void)ud, (void)mid;
    __atomic_add_fetch(&acked, 1, __ATOMIC_RELAXED);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: fleet_telemetry_pub HOST PORT CA CERT KEY DEVICES MESSAGES\n");
        return 2;
    }
    int port = (int)strtol(argv[2], NULL, 10), devices = (int)strtol(argv[6], NULL, 10),
        n = (int)strtol(argv[7], NULL, 10);
    if (port <= 0 || devices <= 0 || n <= 0) return 2;
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new("bench-fleet-pub", true, NULL);
    if (m == NULL || mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, WINDOW) != MOSQ_ERR_SUCCESS ||
        mosquitto_tls_set(m, argv[3], NULL, argv[4], argv[5], NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_max_inflight_messages_set(m, WINDOW) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "fleet_telemetry_pub: setup failed\n");
        return 1;
    }
    mosquitto_publish_callback_set(m, on_publish);
    if (mosquitto_connect(m, argv[1], port, 60) != MOSQ_ERR_SUCCESS || mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "fleet_telemetry_pub: cannot connect\n");
        return 1;
    }
    double t0 = now();
    unsigned seed = 12345;
    long long rid0 = (long long)time(NULL) * 1000;
    for (int i = 0; i < n; i++) {
        while (i - __atomic_load_n(&acked, __ATOMIC_RELAXED) >= WINDOW) usleep(200);
        int d = i % devices;
        char topic[64], payload[512];
        snprintf(topic, sizeof topic, "hearth/HT1-%06d/telemetry", d);
        unsigned r = rand_r(&seed);
        long long rid = rid0 + i; /* unique per report: the service drops a repeated (device, rid) */
        int len = snprintf(payload, sizeof payload,
                           "{\"v\":1,\"hed\":{\"rid\":%lld,\"v\":\"1.0\"},\"met\":{\"tp\":{\"pts\":[{\"pt\":443}],\"t\":1},"
                           "\"up\":{\"pts\":[],\"t\":0},\"ns\":{\"bi\":%u,\"bo\":%u,\"pi\":%u,\"po\":%u},"
                           "\"tc\":{\"ec\":{\"cs\":[{\"rad\":\"192.0.2.10:8883\",\"lp\":%u}],\"t\":%u}}},"
                           "\"cmet\":{\"lf\":0,\"lo\":0,\"uvf\":0,\"iff\":0,\"bc\":3,\"ur\":0,\"rss\":%u,\"ut\":%d,\"al\":0}}",
                           rid, 10000 + r % 50000, 20000 + r % 90000, 100 + r % 500, 120 + r % 700,
                           40000 + r % 20000, 1 + r % 3, 6000 + r % 2000, 300 * (i / devices + 1));
        if (mosquitto_publish(m, NULL, topic, len, payload, 1, false) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "fleet_telemetry_pub: publish failed\n");
            return 1;
        }
    }
    while (__atomic_load_n(&acked, __ATOMIC_RELAXED) < n) usleep(1000);
    double t1 = now();
    printf("published %d messages from %d devices in %.3f s: %.0f msg/s (QoS 1, all acknowledged)\n", n,
           devices, t1 - t0, n / (t1 - t0));
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
