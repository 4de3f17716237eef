# shellcheck shell=bash
# nginx_conf_head DIR ERROR_LOG_LEVEL WORKER_CONNECTIONS: the top of an
# nginx.conf for a test or benchmark server kept in DIR: one worker in the
# foreground, pid file and error log in DIR; as root, the worker runs as the
# invoking user (it would drop to "nobody" and could not read the private
# temp dir). Shared by update_lib.sh (the update repository) and
# bench/nginx_lib.sh (the API and memory references).
nginx_conf_head() {
    if [ "$(id -u)" = 0 ]; then echo "user root root;"; fi
    printf 'worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log %s;\n' "$1" "$1" "$2"
    printf 'events { worker_connections %s; }\n' "$3"
}
