#!/usr/bin/env python3
"""A small W3C WebDriver client (urllib + JSON, no third-party package) and
the one browser flow of tests/integration/test_webui.sh: Debian's chromium,
driven by chromium-driver, uses the device's web interface the way a person
does -- set up a new device with the label's setup password, log in, change
the target, read an announced disruptive update and move its installation
time, postpone updates, change the password, add and delete a user, log out
and in again with the keyboard -- at a phone's width (375 px), and checks the
page never needed anything its Content-Security-Policy forbids and never kept
the session token anywhere but in memory. --flow erase is the privacy page of
a device linked to the real service (tests/integration/
test_privacy_service_erase.sh): the service's signed erase receipt, both
receipts as downloaded files, an erase asked while the device is offline.

Prints "ok   - ..." / "FAIL - ..." lines (read by the shell test) and, with
--screenshots DIR, a PNG of every page (scripts/screenshots.sh)."""
import argparse
import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

ELEM = "element-6066-11e4-a52e-4f735466cecf"
FAILS = 0


def ok(msg):
    print("ok   - " + msg, flush=True)


def fail(msg):
    global FAILS
    FAILS += 1
    print("FAIL - " + msg, flush=True)


def check(cond, msg, detail=""):
    if cond:
        ok(msg)
    else:
        fail(msg + (": " + detail if detail else ""))
    return cond


class WebDriverError(Exception):
    pass


class Driver:
    def __init__(self, port, chromium, spki, profile, width, height, downloads):
        self.base = "http://127.0.0.1:%d" % port
        self.downloads = downloads
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        # A phone: headless chromium's windows are at least 500 px wide.
                        "mobileEmulation": {"deviceMetrics": {"width": width, "height": height,
                                                              "pixelRatio": 1, "touch": True}},
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-dev-shm-usage", "--user-data-dir=" + profile,
                            "--window-size=%d,%d" % (width, height),
                            # The device certificate is issued by the test's own CA: trust
                            # exactly its key, nothing else is relaxed.
                            "--ignore-certificate-errors-spki-list=" + spki,
                            "--lang=en-GB",
                        ],
                        "prefs": {"download.default_directory": downloads,
                                  "download.prompt_for_download": False},
                    },
                    "goog:loggingPrefs": {"browser": "ALL"},
                }
            }
        }
        r = self.call("POST", "/session", caps, session=False)
        self.sid = r["sessionId"]
        # Headless chromium saves downloads only where it is told to.
        try:
            self.call("POST", "/goog/cdp/execute", {"cmd": "Browser.setDownloadBehavior",
                                                    "params": {"behavior": "allow", "downloadPath": downloads}})
        except WebDriverError:
            pass

    def downloaded(self, prefix, timeout=15.0):
        """The JSON document of the first finished download whose name starts with prefix."""
        def find():
            for f in sorted(os.listdir(self.downloads)):
                if f.startswith(prefix) and f.endswith(".json"):
                    try:
                        with open(os.path.join(self.downloads, f)) as fh:
                            return f, json.load(fh)
                    except (OSError, ValueError):
                        return None
            return None
        return self.wait(find, timeout) or (None, None)

    def call(self, method, path, body=None, session=True):
        url = self.base + (("/session/" + self.sid) if session else "") + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                out = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise WebDriverError("%s %s: %s" % (method, path, e.read()[:400]))
        return out.get("value", out) if session else out["value"]

    def go(self, url):
        self.call("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        return self.call("POST", "/element", {"using": "css selector", "value": css})[ELEM]

    def type(self, css, text, clear=True):
        e = self.find(css)
        if clear:
            self.call("POST", "/element/%s/clear" % e, {})
        self.call("POST", "/element/%s/value" % e, {"text": text})

    def keys(self, text):
        """Keys typed into whatever has the focus (Escape: \ue00c)."""
        self.call("POST", "/actions", {"actions": [{"type": "key", "id": "kbd", "actions":
                  [a for ch in text for a in ({"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch})]}]})

    def focused(self):
        return self.js("const e=document.activeElement; return e ? (e.id || e.tagName) : '';")

    def click(self, css):
        self.call("POST", "/element/%s/click" % self.find(css), {})

    def text(self, css):
        return self.call("GET", "/element/%s/text" % self.find(css))

    def visible(self, css):
        return self.js("const e=document.querySelector(arguments[0]);"
                       "return !!e && !e.closest('[hidden]') && e.getClientRects().length>0;", css)

    def wait(self, fn, timeout=15.0, what="condition"):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            try:
                last = fn()
                if last:
                    return last
            except WebDriverError:
                pass
            time.sleep(0.1)
        return last

    def wait_visible(self, css, timeout=15.0):
        return bool(self.wait(lambda: self.visible(css), timeout))

    def wait_text(self, css, needle, timeout=15.0):
        got = self.wait(lambda: needle in (self.text(css) if self.visible(css) else ""), timeout)
        return bool(got)

    def screenshot(self, path):
        png = base64.b64decode(self.call("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)

    def logs(self):
        try:
            return self.call("POST", "/se/log", {"type": "browser"})
        except WebDriverError:
            return []

    def quit(self):
        try:
            self.call("DELETE", "")
        except Exception:
            pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Api:
    """The same device through its API (for checks the page cannot show)."""

    def __init__(self, url, ca):
        self.url = url
        self.ctx = ssl.create_default_context(cafile=ca)

    def req(self, method, path, body=None, token=None):
        h = {}
        if token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            h["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        r = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(r, context=self.ctx, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read() or b"null")
            except ValueError:
                return e.code, None

    def login(self, user, pw):
        st, d = self.req("POST", "/api/v1/login", {"username": user, "password": pw})
        return d["token"] if st == 200 else None


def no_hscroll(d):
    return d.js("return document.documentElement.scrollWidth <= window.innerWidth;")


def flow(d, api, a, shots):
    def shot(name):
        if shots:
            d.screenshot(os.path.join(shots, name + ".png"))

    user, pw1, pw2 = "anna", "sunlit meadow kettle 41", "quiet harbour lantern 73"
    d.go(a.url + "/")
    check(d.wait_visible("#view-setup"), "5.12-1 a new device opens on the setup page")
    check(not d.visible("#nav") and not d.visible("#view-thermostat"),
          "before setup nothing but the setup form is shown (no navigation, no data)")
    check("at least 8 characters" in d.text("#pw-rules") and "user name" in d.text("#pw-rules"),
          "5.12-2 the password rules are explained in words next to the field")
    check(d.js("return document.activeElement && document.activeElement.tagName;") == "H2",
          "keyboard focus moves to the page heading")
    width = d.js("return window.innerWidth;")
    check(width <= 400, "the browser window is phone-sized (%s px wide)" % width)
    check(no_hscroll(d), "setup page fits 375 px without sideways scrolling")
    shot("setup")

    # A wrong setup password: an error in words, the field marked.
    d.type("#setup-code", "AAAA-BBBB-CCCC-DDDD")
    d.type("#setup-user", user)
    d.type("#setup-pw", pw1)
    d.type("#setup-pw2", pw1)
    d.click("#f-setup button[type=submit]")
    check(d.wait_text("#msg", "setup password is not right"),
          "a wrong setup password is refused with a message in words")
    check(d.js("return document.getElementById('setup-code').getAttribute('aria-invalid');") == "true",
          "... and the setup-password field is marked for assistive technology")
    # A weak password: the policy's reason in words.
    d.type("#setup-code", a.setup_password)
    d.type("#setup-pw", "password1")
    d.type("#setup-pw2", "password1")
    d.click("#f-setup button[type=submit]")
    check(d.wait_text("#msg", "not accepted"), "5.1-1 a common password is refused and the reason is shown",
          d.text("#msg") if d.visible("#msg") else "")
    shot("setup-error")
    d.type("#setup-pw", pw1)
    d.type("#setup-pw2", pw1)
    d.click("#f-setup button[type=submit]")
    check(d.wait_visible("#view-thermostat", 30), "setup with the label's setup password and an own password")
    check(d.wait_text("#ok", "set up"), "... confirmed in words")
    check(d.visible("#nav") and "anna (admin)" in d.text("#who"), "the first person is the administrator")
    st, body = api.req("POST", "/api/v1/setup", {"setup_password": a.setup_password, "username": "eve",
                                                "password": "another fine passphrase 5"})
    check(st == 409, "5.1-1 the setup password no longer works after setup (%s)" % st)

    # Thermostat: current, target, mode.
    check(d.wait(lambda: "°C" in d.text("#t-current") or "no reading" in d.text("#t-current")),
          "the thermostat page shows the room temperature")
    d.type("#t-target", "23.5")
    d.js("document.getElementById('t-mode').value='heat';")
    d.click("#f-thermo button[type=submit]")
    check(d.wait_text("#ok", "23.5"), "the target is changed from the page")
    tok = api.login(user, pw1)
    st, t = api.req("GET", "/api/v1/thermostat", token=tok)
    check(st == 200 and t and t["target_c"] == 23.5 and t["mode"] == "heat",
          "... and the device holds the new target (API: %s)" % (t,))
    d.type("#t-target", "45")
    d.click("#f-thermo button[type=submit]")
    check(d.wait_text("#msg", "5 to 30"), "an out-of-range target is refused in words")
    check(no_hscroll(d), "thermostat page fits 375 px")
    d.type("#t-target", "23.5")
    shot("thermostat")

    # Updates: the announced disruptive update and its window (5.3-11, 5.3-12).
    def announced():
        s, u = api.req("GET", "/api/v1/updates", token=tok)
        return u if s == 200 and u.get("window") else None
    u = d.wait(announced, 30)
    check(bool(u), "5.3-12 the device announced the disruptive update (window in GET /updates)", str(u)[:300])
    d.go(a.url + "/#/updates")
    d.call("POST", "/refresh", {})
    # A reload ends the session: the token was in memory only.
    check(d.wait_visible("#view-login"), "a reload ends the session (token kept in memory only)")
    d.type("#login-user", user)
    t_login = time.time()
    d.type("#login-pw", pw1 + "\ue007")  # Enter submits: keyboard operation
    check(d.wait_visible("#view-updates", 30), "log in with the keyboard (Enter) and land on the page asked for")
    check(d.wait_text("#banner", "security update"), "5.3-11 after login a banner on every page says an update is available")
    check(d.wait_text("#u-av-risks", "CVE-2026-0042"), "5.3-11 the risks the update fixes are shown")
    check("expected downtime about 15 s" in d.text("#u-av-notice"), "5.3-12 the disruption notice gives the expected downtime")
    check("heater is off" in d.text("#u-av-notice"), "... and says truthfully what happens to the heating")
    check(d.wait_text("#u-window-text", "installs automatically at"), "5.3-12 the installation time is shown")
    shot("updates")
    target = int(time.time()) + 7200
    d.js("const d=new Date(arguments[0]*1000), p=n=>String(n).padStart(2,'0');"
         "document.getElementById('u-window-at').value=d.getFullYear()+'-'+p(d.getMonth()+1)+'-'+p(d.getDate())+"
         "'T'+p(d.getHours())+':'+p(d.getMinutes());", target)
    d.click("#f-window button[type=submit]")
    check(d.wait_text("#ok", "moved"), "5.3-12 an administrator moves the installation time from the page")
    s, u = api.req("GET", "/api/v1/updates", token=tok)
    at = (u or {}).get("window") or {}
    check(s == 200 and abs(at.get("at_unix", 0) - (target - target % 60)) <= 60,
          "... and the device holds the new time (%s)" % at.get("at"))
    # Postpone automatic updates by 24 h.
    d.type("#u-postpone", "24")
    d.click("#f-policy button[type=submit]")
    check(d.wait_text("#ok", "postponed until"), "5.3-6 updates are postponed from the page")
    s, u = api.req("GET", "/api/v1/updates", token=tok)
    check(s == 200 and u["policy"]["postponed_until"] and u["policy"]["automatic"],
          "... and the device holds the postponement (%s)" % (u or {}).get("policy"))
    d.click("#u-install")
    check(d.wait_visible("#u-confirm") and "expected downtime" in d.text("#u-confirm-text"),
          "5.3-12 installing now first shows the disruption notice and asks to confirm")
    d.click("#u-install-no")
    check(no_hscroll(d), "updates page fits 375 px")

    # Change my password.
    d.go(a.url + "/#/password")  # a hash change: the session stays
    check(d.wait_visible("#view-password"), "the password page opens from a link")
    d.type("#pw-old", pw1)
    d.type("#pw-new", pw2)
    d.type("#pw-new2", pw2 + "x")
    d.click("#f-password button[type=submit]")
    check(d.wait_text("#msg", "not the same"), "mistyped confirmation: said in words, nothing sent")
    d.type("#pw-new2", pw2)
    d.click("#f-password button[type=submit]")
    check(d.wait_text("#ok", "password is changed", 30), "5.1-4 the password is changed from the page")
    check(api.login(user, pw1) is None and api.login(user, pw2) is not None,
          "... the old password no longer works, the new one does")
    shot("password")

    # Users and roles: add, delete.
    d.go(a.url + "/#/users")
    check(d.wait_visible("#users-list tr"), "the users page lists the accounts")
    d.type("#ua-name", "bob")
    d.type("#ua-pw", "bright orchard pebble 22")
    d.js("document.getElementById('ua-role').value='user';")
    d.click("#f-user-add button[type=submit]")
    check(d.wait_text("#ok", "bob was added", 30), "an administrator adds a user")
    check(d.wait(lambda: "bob" in d.text("#users-list")), "... who appears in the list with the role user")
    shot("users")
    bob = api.login("bob", "bright orchard pebble 22")
    check(bob is not None, "the new user can log in")
    check(d.wait_visible("button[aria-label='Log out user bob everywhere']"),
          "the users page offers to log a user out everywhere")
    d.click("button[aria-label='Log out user bob everywhere']")
    check(d.wait_text("#ok", "logged out everywhere (1 session ended)"),
          "5.1-4 an administrator logs a user out everywhere from the page")
    st, _ = api.req("GET", "/api/v1/thermostat", token=bob)
    check(st == 401, "... and bob's session no longer works (%s)" % st)
    bob = api.login("bob", "bright orchard pebble 22")
    verb = "erase"
    d.click("button[aria-label='%s user bob']" % verb.capitalize())
    check(d.wait(lambda: ("Really %s bob" % verb) in d.text("button[aria-label='Confirm: %s user bob']" % verb)),
          "%s asks for a second, explicit click" % verb)
    d.click("button[aria-label='Confirm: %s user bob']" % verb)
    check(d.wait_text("#ok", "bob was %sd" % verb), "the user is %sd from the page" % verb)
    st, _ = api.req("GET", "/api/v1/thermostat", token=bob)
    check(st == 401, "... and bob's session ended with the account (%s)" % st)
    check(api.login("bob", "bright orchard pebble 22") is None, "... and bob cannot log in any more")
    check(no_hscroll(d), "users page fits 375 px")
    d.js("document.querySelector('.skip').focus();")
    d.keys("\ue007")
    check(d.wait(lambda: d.focused() == "H2") and d.visible("#view-users"),
          "the skip link moves the focus to the page's heading and stays on the page", d.focused())

    # Security events.
    d.go(a.url + "/#/events")
    check(d.wait(lambda: any(w in d.text("#ev-list") for w in ("user deleted", "user erased"))),
          "the security events page shows what happened", d.text("#ev-list")[:300] if d.visible("#ev-list") else "")
    shot("events")

    # Check my setup (5.12-3): the device's own checks, in words.
    d.go(a.url + "/#/check")
    check(d.wait_visible("#ck-list li", 30), "the check-my-setup page lists the device's own checks")
    tok = api.login(user, pw2)
    s_, sc = api.req("GET", "/api/v1/setup-check", token=tok)
    units = (sc or {}).get("units", [])
    check(s_ == 200 and len(units) >= 3, "GET /api/v1/setup-check answers its units (%s, %d)" % (s_, len(units)))
    for u in units:
        want = {"PASS": "Good", "FAIL": "Needs attention"}.get(u["verdict"], "")
        check(d.wait(lambda: (want + ": " + u["title"]) in d.text("#ck-list")),
              "5.12-3 the page says %r for %s" % (want or u["verdict"], u["id"]), d.text("#ck-list")[:300])
    setup_unit = next((u for u in units if u["id"] == "setup-state"), None)
    check(setup_unit is not None and setup_unit["verdict"] == "PASS",
          "5.12-3 a device set up with the owner's password checks as securely set up (%s)" % setup_unit)
    check(no_hscroll(d), "check page fits 375 px")
    shot("check")

    # Privacy: what the device holds, consents given and withdrawn (6-1..6-3).
    d.go(a.url + "/#/privacy")
    check(d.wait_visible("#pv-consents li"), "the privacy page lists the uses that need consent")
    check(d.wait(lambda: "user accounts" in d.text("#pv-holds")), "6-1 it says what the device holds now")
    check(d.wait(lambda: "Who receives it" in d.text("#pv-notice")), "6-1 ... and why, by whom and how long, per item")
    tok = api.login(user, pw2)
    s_, cs = api.req("GET", "/api/v1/consents", token=tok)
    purpose = next((p for p in (cs or {}).get("purposes", []) if p["id"] == "temperature_history"), None)
    check(purpose is not None and not purpose["granted"], "no consent is given by default (%s)" % purpose)
    if purpose:
        sel = "button[data-purpose='temperature_history']"
        d.click(sel)
        check(d.wait_text("#ok", "Consent given"), "6-2 consent is given with an explicit click")
        s_, cs = api.req("GET", "/api/v1/consents", token=tok)
        check(any(p["id"] == "temperature_history" and p["granted"] for p in cs["purposes"]),
              "... and recorded on the device")
        shot("privacy")
        d.wait(lambda: "Withdraw" in d.text(sel))
        d.click(sel)
        check(d.wait_text("#ok", "Consent withdrawn"), "6-3 consent is withdrawn from the same page")
        s_, cs = api.req("GET", "/api/v1/consents", token=tok)
        check(any(p["id"] == "temperature_history" and not p["granted"] for p in cs["purposes"]),
              "... and the device holds the withdrawal")
    d.click("#pv-receipt-btn")
    check(d.wait_visible("#pv-receipt") and len(d.text("#pv-receipt")) > 20, "the consent receipt is shown")
    consent_receipt_file(d, api, tok, user)
    # Erasing at the service: asks first, Escape cancels, and a device with
    # no service link says so in words (the linked case:
    # test_privacy_service_erase.sh).
    check(d.wait_text("#pv-erase-state", "Not asked"), "the privacy page says the service was not asked to erase")
    d.click("#pv-erase-btn")
    check(d.wait_visible("#pv-erase-confirm") and d.focused() == "pv-erase-no",
          "asking the service to erase first asks to confirm, the focus on 'Not now'", d.focused())
    d.keys("\ue00c")
    check(d.wait(lambda: not d.visible("#pv-erase-confirm")) and d.focused() == "pv-erase-btn",
          "Escape cancels the confirmation", d.focused())
    d.click("#pv-erase-btn")
    d.click("#pv-erase-yes")
    check(d.wait_text("#msg", "not connected to a manufacturer service"),
          "a device without a service link says there is nothing to erase there, in words")
    check(no_hscroll(d), "privacy page fits 375 px")

    # Storage: the token is in no cookie and no Web Storage.
    store = d.js("return [document.cookie, localStorage.length, sessionStorage.length];")
    check(store == ["", 0, 0], "no cookie, nothing in localStorage or sessionStorage (%s)" % (store,))

    # The session's end (one hour, docs/authentication.md), on the page's
    # clock moved forward: a warning five minutes before, then the login page
    # with the reason, not an error at the next click.
    expires = t_login + 3600
    clock = ("if(!window.__realNow){window.__realNow=Date.now.bind(Date);}"
             "const off=arguments[0]; Date.now=()=>window.__realNow()+off;")
    d.js(clock, int((expires - 120 - time.time()) * 1000))
    d.go(a.url + "/#/thermostat")
    check(d.wait_text("#session-note", "Your session ends at"), "the page warns before the session ends",
          d.text("#session-note") if d.visible("#session-note") else "")
    d.js(clock, int((expires + 5 - time.time()) * 1000))
    d.go(a.url + "/#/users")
    check(d.wait_visible("#view-login") and d.wait_text("#msg", "sessions last one hour"),
          "when the session has ended the page shows the login form and says why")
    d.js("Date.now=window.__realNow;")
    d.type("#login-user", user)
    d.type("#login-pw", pw2 + "\ue007")
    check(d.wait_visible("#view-users", 30) and not d.visible("#session-note"),
          "logging in again lands on the page asked for")

    # Log out, wrong password, log in again.
    d.click("#logout")
    check(d.wait_visible("#view-login") and not d.visible("#nav"), "log out returns to the login form")
    check(d.wait_text("#ok", "logged out"), "... and says so")
    shot("login")
    d.type("#login-user", user)
    d.type("#login-pw", pw1 + "\ue007")
    check(d.wait_text("#msg", "not right"), "a wrong password is refused in words")
    d.type("#login-pw", pw2 + "\ue007")
    check(d.wait_visible("#view-thermostat", 30), "log in with the new password")

    # Factory reset (5.11-1): own password and the words, then set up again.
    d.go(a.url + "/#/reset")
    check(d.wait_visible("#view-reset"), "the factory reset page explains what is erased")
    check("setup password on the device's label" in d.text("#view-reset"), "5.11-3 ... and how to set the device up again")
    shot("reset")
    d.type("#rs-pw", "not my password 1")
    d.type("#rs-confirm", "factory reset")
    d.click("#f-reset button[type=submit]")
    check(d.wait_text("#msg", "Nothing was erased"), "a wrong password erases nothing, said in words")
    d.type("#rs-pw", pw2)
    d.click("#f-reset button[type=submit]")
    check(d.wait_text("#ok", "erased and restarting", 30), "5.11-1 the factory reset starts from the page")
    check(d.wait_visible("#view-setup", 90), "the device comes back in its factory-default state: the setup page")
    st, _ = api.req("POST", "/api/v1/login", {"username": user, "password": pw2})
    check(st == 409, "the old account is gone: login answers setup_required (%s)" % st)
    d.type("#setup-code", a.setup_password)
    d.type("#setup-user", "newowner")
    d.type("#setup-pw", pw1)
    d.type("#setup-pw2", pw1)
    d.click("#f-setup button[type=submit]")
    check(d.wait_visible("#view-thermostat", 60), "the label's setup password sets the device up again")
    d.click("#logout")
    d.wait_visible("#view-login")


def consent_receipt_file(d, api, tok, user):
    """The consent receipt, downloaded as a file, is the device's receipt for user."""
    d.click("#pv-receipt-dl")
    name, doc = d.downloaded("hearth-consent-receipt-")
    s_, rc = api.req("GET", "/api/v1/consents/receipt", token=tok)
    check(s_ == 200 and isinstance(doc, dict) and sorted(doc) == sorted(rc) and doc.get("piiPrincipalId") == user
          and doc.get("noticeVersion") == rc.get("noticeVersion") and doc.get("services") == rc.get("services"),
          "6-3 the consent receipt downloads as a file the person keeps (%s)" % name, str(doc)[:300])


def erase_flow(d, api, a, shots):
    """The service erase on the privacy page of a linked device: the receipt
    the real hearth-fleet signed, then a new request asked while the device is
    offline (test_privacy_service_erase.sh stops the broker first)."""
    d.go(a.url + "/")
    check(d.wait_visible("#view-login"), "the linked device opens on the login page")
    d.type("#login-user", a.user)
    d.type("#login-pw", a.password + "\ue007")
    check(d.wait_visible("#view-thermostat", 30), "the administrator logs in")
    tok = api.login(a.user, a.password)
    st, e = api.req("GET", "/api/v1/privacy/service-erase", token=tok)
    if not check(st == 200 and e["state"] == "confirmed" and e["receipt"], "the device holds a confirmed receipt (API)"):
        return
    rc = json.loads(e["receipt"]["receipt"])
    d.go(a.url + "/#/privacy")
    check(d.wait_visible("#pv-erase-receipt", 20), "5.11-4 the privacy page shows the service's erase receipt")
    check("Done" in d.text("#pv-erase-state"), "... the state in words", d.text("#pv-erase-state"))
    asked = d.text("#pv-erase-asked")
    check(e["request_id"] in asked and e["requested_by"] in asked, "... which request, asked by whom and when", asked)
    cells = "return [...document.querySelectorAll(arguments[0])].map(r=>[...r.cells].map(c=>c.textContent));"
    want = [[x["what"], x["where"], str(x["rows"])] for x in rc["deleted"]]
    got = d.js(cells, "#pv-erase-deleted tr")
    check(got == want and sum(int(x[2]) for x in want) > 0,
          "5.11-4 what the service deleted, where and how many records, as its receipt says (%d rows)" % len(want),
          "%s != %s" % (got, want))
    want = [[x["what"], x["where"], x["why"]] for x in rc["kept"]]
    got = d.js(cells, "#pv-erase-kept tr")
    check(got == want and len(want) >= 1, "5.11-4 what it kept, where and why (%d rows)" % len(want),
          "%s != %s" % (got, want))
    v = d.text("#pv-erase-verified")
    check("Signed by hearth-fleet" in v and "verified this signature" in v and rc["request"] in v,
          "5.11-4 the signer and that the device verified the signature for this request", v)
    check(no_hscroll(d), "the privacy page with the receipt fits 375 px")
    if shots:
        d.js("document.getElementById('pv-erase-state').scrollIntoView();")
        d.screenshot(os.path.join(shots, "privacy-erase.png"))
    d.click("#pv-erase-dl")
    name, doc = d.downloaded("hearth-service-erase-receipt-")
    check(doc == e, "5.11-4 the service's signed erase receipt downloads as a file (%s)" % name, str(doc)[:200])
    consent_receipt_file(d, api, tok, a.user)

    # The broker is down: the request is asked from the page and waits.
    d.click("#pv-erase-btn")
    check(d.wait_visible("#pv-erase-confirm"), "asking again first asks to confirm")
    d.click("#pv-erase-yes")
    check(d.wait_text("#ok", "request is recorded"), "5.11-2 the administrator asks again from the page, the device offline")
    st, e2 = api.req("GET", "/api/v1/privacy/service-erase", token=tok)
    rid = (e2 or {}).get("request_id", "")
    check(st == 200 and e2["state"] == "requested" and rid and rid != e["request_id"], "... a new request (API)", str(e2))
    check(d.wait_text("#pv-erase-state", "Waiting") and d.wait_text("#pv-erase-asked", rid) and
          not d.visible("#pv-erase-receipt"), "5.11-4 the page shows the new request waiting, and no receipt for it")
    print("request " + rid, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--spki", required=True)
    ap.add_argument("--setup-password", default="")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    ap.add_argument("--work", required=True)
    ap.add_argument("--screenshots", default="")
    ap.add_argument("--flow", choices=("full", "erase"), default="full")
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    a = ap.parse_args()
    port = free_port()
    log = open(os.path.join(a.work, "chromedriver.log"), "w")
    cd = subprocess.Popen([a.chromedriver, "--port=%d" % port], stdout=log, stderr=subprocess.STDOUT)
    d = None
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        downloads = os.path.join(a.work, "downloads")
        os.makedirs(downloads, exist_ok=True)
        d = Driver(port, a.chromium, a.spki, os.path.join(a.work, "profile"), 375, 1000, downloads)
        if a.screenshots:
            os.makedirs(a.screenshots, exist_ok=True)
        (erase_flow if a.flow == "erase" else flow)(d, Api(a.url, a.ca), a, a.screenshots)
        logs = d.logs()
        bad = [e["message"] for e in logs
               if "Content Security Policy" in e.get("message", "") or "Uncaught" in e.get("message", "")
               or "Refused to" in e.get("message", "")]
        check(len(logs) > 0 and not bad,
              "no Content-Security-Policy violation and no script error in the browser console "
              "(%d console entries read)" % len(logs), "; ".join(bad)[:600])
    except WebDriverError as e:
        fail("WebDriver: %s" % e)
    finally:
        if d is not None:
            d.quit()
        cd.terminate()
        try:
            cd.wait(10)
        except subprocess.TimeoutExpired:
            cd.kill()
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
