# nginx_lib.sh: Debian's nginx as the same-run reference of the API
# benchmarks (sourced by bench_api.sh and bench_memory.sh after
# tests/integration/lib.sh's ht_init + ht_provision).
#
# bench_nginx_start DEVICE [WWW]: nginx on a free loopback port with TLS,
# serving WWW (default: an empty directory) with the device's own
# certificate and key and hearthd's TLS settings, one worker. The device key
# is read out of the secure store through the library
# (hearth_device_private_key_der, bench_api_keyexport) into the benchmark's
# private temp dir and shredded on exit (bench_nginx_stop). Sets NGINX_PID,
# NGINX_PORT, NGINX_URL.
# shellcheck source=../tests/integration/nginx_conf.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/nginx_conf.sh"
NGINX_PID=""
bench_nginx_start() {
    local dev=$1 www=${2:-$HT_WORK/nginx/www}
    local d=$HT_WORK/nginx
    command -v nginx >/dev/null || { echo "nginx_lib: nginx not installed" >&2; return 1; }
    mkdir -p "$d/tmp" "$www"
    "$(ht_bin bench_api_keyexport)" "$HT_WORK/$dev" >"$d/key.der"
    openssl pkey -inform DER -in "$d/key.der" -out "$d/key.pem"
    shred -u "$d/key.der"
    chmod 600 "$d/key.pem"
    NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    { nginx_conf_head "$d" error 256; cat <<NGX
http {
    access_log off;
    client_body_temp_path $d/tmp; proxy_temp_path $d/tmp;
    fastcgi_temp_path $d/tmp; uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
    server_tokens off;
    keepalive_requests 1000;
    keepalive_timeout 120s;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        ssl_certificate $HT_WORK/$dev/device.crt;
        ssl_certificate_key $d/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305;
        ssl_prefer_server_ciphers on;
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        location / { root $www; default_type application/json; add_header Cache-Control no-store; }
    }
}
NGX
    } >"$d/nginx.conf"
    nginx -c "$d/nginx.conf" -p "$d" 2>"$d/stderr" &
    NGINX_PID=$!
    NGINX_URL="https://127.0.0.1:$NGINX_PORT"
    for _ in $(seq 1 50); do
        curl -s --cacert "$HT_CA" -o /dev/null "$NGINX_URL/" && return 0
        sleep 0.1
    done
    echo "nginx_lib: nginx did not answer: $(cat "$d/stderr")" >&2
    return 1
}

# bench_nginx_stop: stop nginx, shred the exported key.
bench_nginx_stop() {
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
    [ -n "${HT_WORK:-}" ] && [ -f "$HT_WORK/nginx/key.pem" ] && shred -u "$HT_WORK/nginx/key.pem" 2>/dev/null || true
    NGINX_PID=""
}

# bench_nginx_pids: nginx master and its workers.
bench_nginx_pids() {
    echo "$NGINX_PID" $(pgrep -P "$NGINX_PID")
}
