#!/usr/bin/env python3
"""A deliberately weakened device for tests/integration/test_assess.sh.

An HTTPS server (python3 ssl, loopback only) imitating the Hearth API's
login route with exactly the faults asked for, so that `hearth assess`
must find them:
  --default-cred USER:PW   POST /api/v1/login accepts this factory credential
  --no-throttle            wrong passwords are never refused with 429
                           (without it: 429 + Retry-After after 3 failures)
  --server-header TEXT     send "Server: TEXT" (a version leak); without it
                           the server sends no Server header at all
  --open-device            GET /api/v1/device answers without authentication
  --admin USER:PW          this login gets an admin token, which reads
                           /api/v1/device, /api/v1/users and /api/v1/updates
  --accept-uploads         POST /api/v1/updates/upload (admin) installs any
                           bundle, signed or not, older or not: the update
                           state shows it pending at once
Prints "ready PORT" once listening on 127.0.0.1.
"""
import argparse, http.server, json, ssl, sys, threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--default-cred", default="")
    ap.add_argument("--no-throttle", action="store_true")
    ap.add_argument("--server-header", default="")
    ap.add_argument("--open-device", action="store_true")
    ap.add_argument("--admin", default="")
    ap.add_argument("--accept-uploads", action="store_true")
    a = ap.parse_args()
    failures = {"n": 0}
    admin_token = "weakadmin0123456789abcdef"
    update = {"installed": {"version": "0.9.1", "security_version": 3, "slot": "a",
                            "min_security_version": 3},
              "pending": None, "state": "idle", "restart_required": False, "events": []}
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def version_string(self):
            return a.server_header

        def send_header(self, k, v):
            if k.lower() == "server" and not a.server_header:
                return
            if k.lower() == "date":
                return
            super().send_header(k, v)

        def log_message(self, *args):
            pass

        def reply(self, code, obj, extra=None):
            body = json.dumps(obj, separators=(",", ":")).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def is_admin(self):
            return bool(a.admin) and self.headers.get("Authorization") == "Bearer " + admin_token

        def do_GET(self):
            if self.is_admin():
                if self.path == "/api/v1/device":
                    return self.reply(200, {"model": "WEAK-1", "hw_id": "weak-hw-1",
                                            "software_version": "0.9.1"})
                if self.path == "/api/v1/users":
                    return self.reply(200, {"users": [{"username": a.admin.split(":")[0],
                                                       "role": "admin"}]})
                if self.path == "/api/v1/updates":
                    with lock:
                        return self.reply(200, update)
            if self.path == "/api/v1/device":
                if a.open_device:
                    return self.reply(200, {"model": "WEAK-1", "software_version": "0.9.1"})
                return self.reply(401, {"error": "unauthenticated"})
            return self.reply(404, {"error": "not_found"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            if self.path == "/api/v1/updates/upload" and self.is_admin() and a.accept_uploads:
                body = self.rfile.read(min(n, 1 << 20))
                with lock:
                    update["pending"] = {"slot": "b", "version": "uploaded-%d" % len(body),
                                         "security_version": 0, "attempts_left": 3}
                    update["restart_required"] = True
                return self.reply(200, {"installed": "uploaded", "restart_required": True,
                                        "disruptive": False, "expected_downtime_s": 0})
            raw = self.rfile.read(min(n, 4096))
            if self.path != "/api/v1/login":
                return self.reply(404, {"error": "not_found"})
            try:
                req = json.loads(raw)
                user, pw = str(req["username"]), str(req["password"])
            except Exception:
                return self.reply(400, {"error": "invalid_json"})
            with lock:
                if not a.no_throttle and failures["n"] >= 3:
                    return self.reply(429, {"error": "locked"}, {"Retry-After": "30"})
                if a.admin and f"{user}:{pw}" == a.admin:
                    return self.reply(200, {"token": admin_token})
                if a.default_cred and f"{user}:{pw}" == a.default_cred:
                    return self.reply(200, {"token": "weaktoken0123456789"})
                failures["n"] += 1
            return self.reply(401, {"error": "unauthenticated"})

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready", srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
