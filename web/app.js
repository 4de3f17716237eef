/* Hearth's local web interface (docs/web.md): a small single-page app over
 * the device's JSON API on the same origin. No framework, no third-party
 * code. The session token lives in this closure only: never in a cookie or
 * in Web Storage, so another site cannot make the browser use it and it is
 * gone when the page is closed or reloaded. Every text from the device is
 * put into the page with textContent, never parsed as HTML. */
'use strict';
(function () {
  const S = { keep: false, token: null, user: '', role: '', expires: 0, view: '', updates: null,
    erasePoll: 0, eraseDoc: null, warned: false };
  const $ = (id) => document.getElementById(id);

  /* ------------------------------------------------------------ messages */

  const FIELD_NAMES = {
    setup_password: 'Setup password', username: 'User name', password: 'Password',
    new_password: 'New password', old_password: 'Current password', target_c: 'Target temperature',
    mode: 'Mode', role: 'Role', name: 'User name', postpone_hours: 'Postpone', at: 'Installation time',
    automatic: 'Automatic updates'
  };

  /* An API error in words a person can act on. */
  function words(res) {
    const d = res.data || {};
    const m = d.message ? String(d.message) : '';
    switch (d.error) {
      case 'invalid_credentials': return 'The user name or password is not right. Check them and try again.';
      case 'locked': return 'Too many wrong attempts. Wait ' + (res.retry || 'a few') + ' seconds, then try again.';
      case 'weak_password': return 'This password is not accepted: ' + m.replace(/^password /, 'it ') + '.';
      case 'forbidden': return 'Only an administrator can do this.';
      case 'unauthenticated': return 'Your session has ended. Please log in again.';
      case 'session_expired': return 'Your session ended: sessions last one hour. Please log in again; what you saved is kept.';
      case 'wrong_password': return 'Your password is not right.';
      case 'no_service': return 'This device is not connected to a manufacturer service, so there is nothing to erase there.';
      case 'too_large': return 'That is too long for the device.';
      case 'updates_unavailable': return 'The device has no update source set up, so it cannot check or install updates.';
      case 'reset_unavailable': return 'The factory reset cannot run on this device right now: ' + m + '. Nothing was erased.';
      case 'erase_incomplete': return 'The erase did not finish: ' + m + '. Try again; if it fails again, use a factory reset.';
      case 'busy': return 'The device is busy. Try again in a few seconds.';
      case 'repository_busy':
        return 'The update server is busy and asked devices to wait before checking again. Try again in about ' +
          Math.max(1, Math.ceil((Number(res.retry) || 60) / 60)) + ' minutes; the device also checks by itself.';
      case 'setup_required': return 'The device is not set up yet.';
      case 'already_set_up': return 'The device is already set up. Log in instead.';
      case 'exists': return 'That already exists: ' + m + '.';
      case 'not_found': return 'Not found: ' + m + '.';
      case 'invalid_field': case 'out_of_range':
        return (FIELD_NAMES[d.field] || d.field || 'A field') + ': ' + m + '.';
      case 'wrong_state': case 'conflict': return 'Not possible right now: ' + m + '.';
      default:
        if (res.status === 0) return 'The device cannot be reached. Check that it is on and connected, then try again.';
        if (res.status >= 500 && !m) return 'The device could not do this (HTTP ' + res.status + '). Try again in a minute.';
        return m ? m.charAt(0).toUpperCase() + m.slice(1) + '.' : 'Something went wrong (HTTP ' + res.status + ').';
    }
  }

  function say(text, good) {
    const bad = $('msg'), ok = $('ok');
    bad.hidden = true; ok.hidden = true;
    if (!text) return;
    const el = good ? ok : bad;
    el.textContent = text;
    el.hidden = false;
  }

  function markInvalid(form, field) {
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    if (!field) return;
    const el = form.querySelector('[name="' + field + '"]') || null;
    if (el) { el.setAttribute('aria-invalid', 'true'); el.focus(); }
  }

  /* ----------------------------------------------------------------- API */

  async function api(method, path, body) {
    if (S.token && sessionTick()) return { status: 401, data: { error: 'session_expired' } };
    const h = {};
    if (S.token) h.Authorization = 'Bearer ' + S.token;
    const opt = { method: method, headers: h, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) { h['Content-Type'] = 'application/json'; opt.body = JSON.stringify(body); }
    let r;
    try { r = await fetch(path, opt); } catch (e) { return { status: 0, data: null }; }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    const res = { status: r.status, data: data, retry: r.headers.get('Retry-After'), date: r.headers.get('Date') };
    if (r.status === 401 && S.token && path !== '/api/v1/password') {
      endSession();
      say('Your session has ended. Please log in again.');
    }
    return res;
  }

  /* ------------------------------------------------------------- views */

  const PUBLIC = ['setup', 'login', 'loading'];
  const ADMIN = ['users', 'events', 'reset', 'check'];
  const LOADERS = {};

  function show(view) {
    for (const s of document.querySelectorAll('main > section')) s.hidden = s.dataset.view !== view;
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    S.view = view;
    const h = document.querySelector('#view-' + view + ' h2');
    document.title = (h ? h.textContent + ' - ' : '') + 'Hearth';
    if (h) h.focus();
  }

  async function route() {
    const want = (location.hash.replace(/^#\/?/, '') || '').split('/')[0];
    if (!S.token) {
      const st = await api('GET', '/api/v1/device');
      if (st.status === 409 && st.data && st.data.error === 'setup_required') return show('setup');
      if (st.status === 0) { say(words(st)); return; }
      return show('login');
    }
    let view = LOADERS[want] ? want : 'thermostat';
    if (ADMIN.includes(view) && S.role !== 'admin') view = 'thermostat';
    show(view);
    if (S.keep) S.keep = false; else say('');
    await LOADERS[view]();
  }

  /* Show @p hash: a hash change routes by itself; the same hash again does not. */
  function go(hash) {
    S.keep = true;
    if (location.hash === hash) route(); else location.hash = hash;
  }

  /* The session's end on this browser's clock: the device says when it ends
   * on its own clock (expires_at) and what time it is (the Date header). */
  function startSession(login, user, date) {
    const devNow = date ? Date.parse(date) / 1000 : NaN;
    S.token = login.token;
    S.role = login.role;
    S.user = user;
    S.expires = Date.now() / 1000 + (login.expires_at - (Number.isFinite(devNow) ? devNow : Date.now() / 1000));
    S.warned = false;
    $('session-note').hidden = true;
    $('who').textContent = 'Logged in as ' + user + ' (' + login.role + ')';
    $('nav').hidden = false;
    for (const el of document.querySelectorAll('[data-admin]')) el.hidden = S.role !== 'admin';
  }

  function endSession() {
    S.token = null; S.role = ''; S.user = ''; S.updates = null; S.eraseDoc = null;
    clearTimeout(S.erasePoll);
    $('session-note').hidden = true;
    $('nav').hidden = true;
    $('banner').hidden = true;
    for (const el of document.querySelectorAll('[data-admin]')) el.hidden = true;
    for (const f of document.querySelectorAll('form')) f.reset();
    show('login');
  }

  /* Sessions last one hour from login (docs/authentication.md). Five minutes
   * before the end the page says so; at the end it logs out by itself and
   * says why, instead of letting the next action fail. Checked every 15 s,
   * when the page becomes visible again and before every API call.
   * true when the session has ended. */
  function sessionTick() {
    if (!S.token) return false;
    const left = S.expires - Date.now() / 1000;
    if (left <= 0) {
      endSession();
      say(words({ status: 401, data: { error: 'session_expired' } }));
      return true;
    }
    if (left <= 300 && !S.warned) {
      S.warned = true;
      const note = $('session-note');
      note.textContent = 'Your session ends at ' + new Date(S.expires * 1000).toLocaleTimeString() +
        ' (in ' + Math.max(1, Math.round(left / 60)) + ' minute' + (left < 90 ? '' : 's') +
        '). Save what you are doing; then log in again.';
      note.hidden = false;
    }
    return false;
  }
  setInterval(sessionTick, 15000);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) sessionTick(); });

  function onSubmit(id, fn) {
    $(id).addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const form = ev.target;
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      try { await fn(form); } finally { btn.disabled = false; }
    });
  }

  function onClick(id, fn) {
    $(id).addEventListener('click', async (ev) => {
      const b = ev.currentTarget;
      b.disabled = true;
      try { await fn(); } finally { b.disabled = false; }
    });
  }

  /* ------------------------------------------------------- setup, login */

  onSubmit('f-setup', async (form) => {
    const pw = $('setup-pw').value;
    if (pw !== $('setup-pw2').value) {
      say('The two passwords are not the same. Type the same password twice.');
      markInvalid(form, null); $('setup-pw2').setAttribute('aria-invalid', 'true'); $('setup-pw2').focus();
      return;
    }
    const user = $('setup-user').value.trim();
    const r = await api('POST', '/api/v1/setup',
      { setup_password: $('setup-code').value.trim(), username: user, password: pw });
    if (r.status !== 200) {
      say(r.data && r.data.error === 'invalid_credentials'
        ? 'The setup password is not right. Copy it exactly as printed on the label.' : words(r));
      markInvalid(form, r.data && r.data.error === 'invalid_credentials' ? 'setup_password' : r.data && r.data.field);
      return;
    }
    const l = await api('POST', '/api/v1/login', { username: user, password: pw });
    form.reset();
    if (l.status !== 200) { show('login'); say(words(l)); return; }
    startSession(l.data, user, l.date);
    await refreshBanner();
    go('#/thermostat');
    say('The device is set up. You are its administrator.', true);
  });

  onSubmit('f-login', async (form) => {
    const user = $('login-user').value.trim();
    const r = await api('POST', '/api/v1/login', { username: user, password: $('login-pw').value });
    if (r.status !== 200) { say(words(r)); markInvalid(form, r.data && r.data.field); $('login-pw').value = ''; return; }
    form.reset();
    startSession(r.data, user, r.date);
    await refreshBanner();
    go(!location.hash || location.hash === '#/login' || location.hash === '#/setup' ? '#/thermostat' : location.hash);
  });

  onClick('logout', async () => {
    await api('POST', '/api/v1/logout');
    endSession();
    go('#/login');
    say('You are logged out.', true);
  });

  /* ------------------------------------------------------- thermostat */

  LOADERS.thermostat = async () => {
    const r = await api('GET', '/api/v1/thermostat');
    if (r.status !== 200) { say(words(r)); return; }
    fillThermo(r.data);
  };

  /* The room temperature and heating stay current while the page is open
   * (every 30 s); the form keeps what the person is typing. */
  setInterval(async () => {
    if (S.view !== 'thermostat' || !S.token || document.hidden) return;
    const r = await api('GET', '/api/v1/thermostat');
    if (r.status === 200 && S.view === 'thermostat') fillFacts(r.data);
  }, 30000);

  function fillFacts(d) {
    $('t-current').textContent = d.sensor_ok === false ? 'no reading yet' : d.current_c.toFixed(1) + ' °C';
    $('t-heating').textContent = d.heating ? 'on' : 'off';
  }

  function fillThermo(d) {
    fillFacts(d);
    $('t-target').value = d.target_c;
    $('t-mode').value = d.mode;
  }

  onSubmit('f-thermo', async (form) => {
    const t = Number($('t-target').value);
    if ($('t-target').value === '' || !(t >= 5 && t <= 30)) {
      say('Target temperature: choose a value from 5 to 30 °C.');
      $('t-target').setAttribute('aria-invalid', 'true'); $('t-target').focus();
      return;
    }
    const r = await api('PUT', '/api/v1/thermostat', { target_c: t, mode: $('t-mode').value });
    if (r.status !== 200) { say(words(r)); markInvalid(form, r.data && r.data.field); return; }
    markInvalid(form, null);
    fillThermo(r.data);
    say('Saved: target ' + r.data.target_c.toFixed(1) + ' °C, mode ' + r.data.mode + '.', true);
  });

  /* --------------------------------------------------------- password */

  LOADERS.password = async () => {};

  onSubmit('f-password', async (form) => {
    if ($('pw-new').value !== $('pw-new2').value) {
      say('The two new passwords are not the same. Type the same password twice.');
      $('pw-new2').setAttribute('aria-invalid', 'true'); $('pw-new2').focus();
      return;
    }
    const r = await api('POST', '/api/v1/password',
      { old_password: $('pw-old').value, new_password: $('pw-new').value });
    if (r.status !== 200) {
      say(r.status === 401 ? 'The current password is not right.' : words(r));
      markInvalid(form, r.status === 401 ? null : r.data && r.data.field);
      return;
    }
    form.reset();
    markInvalid(form, null);
    say('Your password is changed. Your other sessions were logged out.', true);
  });

  /* ------------------------------------------------------------ users */

  LOADERS.users = async () => {
    const r = await api('GET', '/api/v1/users');
    if (r.status !== 200) { say(words(r)); return; }
    const tb = $('users-list');
    tb.textContent = '';
    for (const u of r.data.users) {
      const tr = document.createElement('tr');
      const name = document.createElement('td'); name.textContent = u.username;
      const role = document.createElement('td'); role.textContent = u.role;
      const act = document.createElement('td');
      if (u.username !== S.user) {
        const out = document.createElement('button');
        out.type = 'button';
        out.className = 'secondary';
        out.textContent = 'Log out';
        out.setAttribute('aria-label', 'Log out user ' + u.username + ' everywhere');
        out.addEventListener('click', () => logoutUser(u.username, out));
        const del = document.createElement('button');
        del.type = 'button';
        del.className = 'danger';
        del.textContent = 'Erase';
        del.setAttribute('aria-label', 'Erase user ' + u.username);
        del.dataset.user = u.username;
        del.addEventListener('click', () => deleteUser(u.username, del));
        del.addEventListener('blur', () => disarm(del));
        act.append(out, del);
      } else {
        act.textContent = 'you';
      }
      tr.append(name, role, act);
      tb.appendChild(tr);
    }
  };

  const ERASED = { account: 'the account', sessions: 'the sessions', application_data: 'what the applications kept for them',
    core_data: 'their consent records and other data the device kept about them' };

  function disarm(btn) {
    if (btn.dataset.armed !== '1') return;
    btn.dataset.armed = '';
    btn.textContent = 'Erase';
    btn.setAttribute('aria-label', 'Erase user ' + btn.dataset.user);
  }

  async function deleteUser(name, btn) {
    if (btn.dataset.armed !== '1') {
      btn.dataset.armed = '1';
      btn.textContent = 'Really erase ' + name + '?';
      btn.setAttribute('aria-label', 'Confirm: erase user ' + name);
      btn.focus();
      return;
    }
    btn.disabled = true;
    const r = await api('DELETE', '/api/v1/users/' + encodeURIComponent(name));
    if (r.status !== 200) { say(words(r)); btn.disabled = false; return; }
    const what = (r.data.erased || []).map((k) => ERASED[k] || k.replace(/_/g, ' '));
    say('User ' + name + ' was erased' + (what.length ? ': ' + what.join(', ') : '') + '.', true);
    await LOADERS.users();
  }

  async function logoutUser(name, btn) {
    btn.disabled = true;
    const r = await api('POST', '/api/v1/users/' + encodeURIComponent(name) + '/logout');
    btn.disabled = false;
    if (r.status !== 200) { say(words(r)); return; }
    say(name + ' is logged out everywhere (' + r.data.revoked + ' session' + (r.data.revoked === 1 ? '' : 's') + ' ended).', true);
  }

  onSubmit('f-user-add', async (form) => {
    const name = $('ua-name').value.trim();
    const r = await api('POST', '/api/v1/users', { username: name, password: $('ua-pw').value, role: $('ua-role').value });
    if (r.status !== 201) {
      say(words(r));
      const f = r.data && r.data.field;
      for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
      const el = f === 'username' ? $('ua-name') : f === 'password' ? $('ua-pw') : null;
      if (el) { el.setAttribute('aria-invalid', 'true'); el.focus(); }
      return;
    }
    form.reset();
    say('User ' + r.data.username + ' was added with the role ' + r.data.role + '.', true);
    await LOADERS.users();
  });

  /* ---------------------------------------------------------- updates */

  function when(iso) {
    if (!iso) return 'not scheduled';
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  function localInput(unix) {
    const d = new Date(unix * 1000);
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
  }

  function stateWords(d) {
    const m = { idle: 'up to date', checking: 'checking for updates', downloading: 'downloading an update',
      installing: 'installing an update', available: 'an update is waiting',
      restart_required: 'installed; the device restarts to use it' };
    return m[d.state] || d.state;
  }

  async function refreshBanner() {
    const r = await api('GET', '/api/v1/updates');
    const b = $('banner');
    b.textContent = '';
    b.hidden = true;
    if (r.status !== 200) return;
    S.updates = r.data;
    const av = r.data.available;
    if (!av) return;
    const t = document.createElement('span');
    let text = 'A security update (version ' + av.version + ') is available. ';
    if (r.data.window && r.data.window.at) {
      text += 'It installs at ' + when(r.data.window.at) + '; the device will be unavailable for about ' +
        av.expected_downtime_s + ' seconds. ';
    }
    t.textContent = text;
    const a = document.createElement('a');
    a.href = '#/updates';
    a.textContent = 'What it fixes and when it installs';
    b.append(t, a);
    b.hidden = false;
  }

  LOADERS.updates = async () => {
    const r = await api('GET', '/api/v1/updates');
    if (r.status !== 200) { say(words(r)); return; }
    S.updates = r.data;
    fillUpdates(r.data);
    await refreshBanner();
  };

  function fillUpdates(d) {
    $('u-installed').textContent = d.installed.version + ' (security version ' + d.installed.security_version + ')';
    $('u-state').textContent = stateWords(d);
    $('u-last').textContent = d.last_check && d.last_check.time
      ? when(d.last_check.time) + ' (' + d.last_check.outcome.replace(/_/g, ' ') + ')' : 'not yet';
    $('u-next').textContent = when(d.next_check);
    const av = d.available;
    $('u-available').hidden = !av;
    $('u-none').hidden = !!av;
    $('u-confirm').hidden = true;
    if (av) {
      $('u-av-version').textContent = 'Version ' + av.version + ' (security version ' + av.security_version + ', ' +
        Math.ceil(av.size / 1024) + ' KiB).';
      $('u-av-risks').textContent = av.risks_mitigated || 'The manufacturer did not list the risks.';
      $('u-av-notes').textContent = av.release_notes || '(none)';
      $('u-av-notice').textContent = d.disruption_notice || '';
      const w = d.window;
      $('u-window').hidden = !(av.disruptive && w);
      if (av.disruptive && w) {
        $('u-window-text').textContent = w.at
          ? 'Announced ' + when(w.announced_at) + '. It installs automatically at ' + when(w.at) +
            ' unless an administrator moves it; expect the device to be unavailable for about ' +
            av.expected_downtime_s + ' seconds.'
          : 'It installs when an administrator chooses (automatic updates are off or postponed).';
        if (w.at_unix) $('u-window-at').value = localInput(w.at_unix);
      }
    }
    const p = d.policy || {};
    $('u-auto').checked = !!p.automatic;
    $('u-postponed').textContent = p.postponed_until ? 'Postponed until ' + when(p.postponed_until) + '.' : '';
    const integ = d.integrity;
    const ul = $('u-alerts');
    ul.textContent = '';
    if (integ) {
      $('u-integrity').textContent = integ.alerts_total
        ? integ.alerts_total + ' integrity alert(s): the device found software that was changed without a valid signature and refused to run it.'
        : 'No integrity alerts: the installed software matched its signature at every start.';
      for (const al of integ.alerts || []) {
        const li = document.createElement('li');
        li.className = 'sev-alert';
        li.textContent = when(al.time) + ': slot ' + al.slot + ', ' + al.file + ': ' + al.reason;
        ul.appendChild(li);
      }
      if (integ.updates_reverted) {
        const li = document.createElement('li');
        li.textContent = integ.updates_reverted + ' update(s) were undone because they did not start correctly.';
        ul.appendChild(li);
      }
    }
    const ev = $('u-events');
    ev.textContent = '';
    for (const e of d.events || []) {
      const li = document.createElement('li');
      li.className = 'sev-' + e.severity;
      li.textContent = when(e.time) + ' ' + e.event.replace(/_/g, ' ') + (e.version ? ' ' + e.version : '') +
        (e.reason ? ': ' + e.reason : '');
      ev.appendChild(li);
    }
  }

  onSubmit('f-policy', async () => {
    const h = Number($('u-postpone').value || '0');
    if (!(Number.isInteger(h) && h >= 0 && h <= 720)) {
      say('Postpone: enter a whole number of hours from 0 to 720.');
      $('u-postpone').setAttribute('aria-invalid', 'true'); $('u-postpone').focus();
      return;
    }
    $('u-postpone').removeAttribute('aria-invalid');
    const r = await api('PUT', '/api/v1/updates/policy', { automatic: $('u-auto').checked, postpone_hours: h });
    if (r.status !== 200) { say(words(r)); return; }
    fillUpdates(r.data);
    $('u-postpone').value = '0';
    say(r.data.policy.automatic
      ? (r.data.policy.postponed_until ? 'Saved: automatic updates postponed until ' + when(r.data.policy.postponed_until) + '.' : 'Saved: updates install automatically.')
      : 'Saved: updates are not installed automatically. You are told when one is available.', true);
  });

  onSubmit('f-window', async () => {
    const v = $('u-window-at').value;
    const t = v ? Math.floor(new Date(v).getTime() / 1000) : NaN;
    if (!Number.isFinite(t)) {
      say('Installation time: choose a date and time.');
      $('u-window-at').setAttribute('aria-invalid', 'true'); $('u-window-at').focus();
      return;
    }
    $('u-window-at').removeAttribute('aria-invalid');
    const r = await api('PUT', '/api/v1/updates/window', { at: t });
    if (r.status !== 200) { say(words(r)); return; }
    fillUpdates(r.data);
    await refreshBanner();
    say('The installation is moved to ' + when(r.data.window.at) + '.', true);
  });

  onClick('u-check', async () => {
    const r = await api('POST', '/api/v1/updates/check');
    if (r.status !== 202) { say(words(r)); return; }
    say('Checking for updates. This page updates in a few seconds.', true);
    setTimeout(() => { if (S.view === 'updates') LOADERS.updates(); }, 3000);
  });

  onClick('u-install', async () => {
    const d = S.updates;
    $('u-confirm-text').textContent = (d && d.disruption_notice ? d.disruption_notice + ' ' : '') +
      'Install version ' + (d && d.available ? d.available.version : '') + ' now?';
    $('u-confirm').hidden = false;
    $('u-install-no').focus();
  });

  onClick('u-install-no', async () => { $('u-confirm').hidden = true; $('u-install').focus(); });

  onClick('u-install-yes', async () => {
    const r = await api('POST', '/api/v1/updates/install');
    $('u-confirm').hidden = true;
    if (r.status !== 202) { say(words(r)); return; }
    say('Installing. The device restarts when it is done; log in again afterwards.', true);
  });

  /* ---------------------------------------------------------- privacy */

  function li(text, cls) {
    const e = document.createElement('li');
    e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  const HOLDS = { user_names: 'user accounts', sessions: 'open sessions', consents: 'consent records',
    temperature_history: 'temperature readings kept for the history', events: 'security log entries' };

  LOADERS.privacy = async () => {
    const r = await api('GET', '/api/v1/privacy');
    if (r.status !== 200) { say(words(r)); return; }
    const d = r.data;
    $('pv-version').textContent = 'Notice version ' + d.notice_version + '.';
    const holds = $('pv-holds');
    holds.textContent = '';
    for (const h of d.holds) holds.appendChild(li((HOLDS[h.item] || h.item.replace(/_/g, ' ')) + ': ' + h.count));
    const sens = $('pv-sensors');
    sens.textContent = '';
    for (const x of d.sensors) sens.appendChild(li(x.what + ' (' + x.kind + (x.unit ? ', ' + x.unit : '') + ')'));
    if (!d.sensors.length) sens.appendChild(li('none'));
    renderNotice(d.notice || {});
    await loadConsents();
    await loadServiceErase();
  };

  function renderNotice(n) {
    const box = $('pv-notice');
    box.textContent = '';
    const purposes = {};
    for (const p of n.purposes || []) purposes[p.id] = p;
    if (n.controller) {
      const p = document.createElement('p');
      p.textContent = 'Responsible: ' + n.controller.name + '. Contact: ' + n.controller.contact + '.';
      box.appendChild(p);
    }
    for (const it of n.items || []) {
      const h = document.createElement('h4');
      h.textContent = it.title;
      const ul = document.createElement('ul');
      const pu = purposes[it.purpose];
      if (pu) ul.appendChild(li('Why: ' + pu.title + ' (' + String(pu.basis).replace(/_/g, ' ') + '). ' + (pu.description || '')));
      if (it.where && it.where.length) ul.appendChild(li('Where: ' + it.where.join('; ')));
      ul.appendChild(li('Who receives it: ' + (it.recipients && it.recipients.length ? it.recipients.join('; ') : 'nobody else')));
      if (it.leaves_device) ul.appendChild(li('Leaves the device: ' + it.leaves_device));
      if (it.retention) ul.appendChild(li('Kept: ' + it.retention));
      box.append(h, ul);
    }
  }

  async function loadConsents() {
    const r = await api('GET', '/api/v1/consents');
    const ul = $('pv-consents');
    ul.textContent = '';
    if (r.status !== 200) { say(words(r)); return; }
    for (const p of r.data.purposes) {
      const item = document.createElement('li');
      const t = document.createElement('p');
      const b = document.createElement('strong');
      b.textContent = p.title;
      const st = document.createElement('span');
      st.textContent = p.granted ? ' Given' + (p.since ? ' on ' + new Date(p.since * 1000).toLocaleString() : '') + '.' : ' Not given.';
      st.className = 'state';
      st.id = 'consent-' + p.id;
      t.append(b, st);
      item.appendChild(t);
      if (S.role === 'admin') {
        const btn = document.createElement('button');
        btn.type = 'button';
        btn.className = p.granted ? 'secondary' : '';
        btn.textContent = p.granted ? 'Withdraw consent' : 'Give consent';
        btn.setAttribute('aria-label', (p.granted ? 'Withdraw consent: ' : 'Give consent: ') + p.title);
        btn.dataset.purpose = p.id;
        btn.addEventListener('click', async () => {
          btn.disabled = true;
          const c = await api('PUT', '/api/v1/consents/' + encodeURIComponent(p.id), { granted: !p.granted });
          if (c.status !== 200) { say(words(c)); btn.disabled = false; return; }
          say((c.data.granted ? 'Consent given: ' : 'Consent withdrawn: ') + p.title + '.' +
            (c.data.granted ? '' : ' Nothing more is sent for it, and the service was told.'), true);
          await loadConsents();
        });
        item.appendChild(btn);
      }
      ul.appendChild(item);
    }
  }

  /* A JSON document offered as a file the person keeps (a download made in
   * the page: nothing is sent anywhere). */
  function download(name, obj) {
    const blob = new Blob([JSON.stringify(obj, null, 2) + '\n'], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function consentReceipt() {
    const r = await api('GET', '/api/v1/consents/receipt');
    if (r.status !== 200) { say(words(r)); return null; }
    return r.data;
  }

  onClick('pv-receipt-btn', async () => {
    const d = await consentReceipt();
    if (!d) return;
    $('pv-receipt').textContent = JSON.stringify(d, null, 2);
    $('pv-receipt').hidden = false;
    $('pv-receipt').focus();
  });

  onClick('pv-receipt-dl', async () => {
    const d = await consentReceipt();
    if (!d) return;
    download('hearth-consent-receipt-' + (d.consentReceiptID || 'device') + '.json', d);
    say('Your consent receipt was saved as a file (check your downloads).', true);
  });

  function fmt(unix) { return unix ? new Date(unix * 1000).toLocaleString() : ''; }

  function row(tbody, cells) {
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }

  /* The receipt as the device stored it after checking its signature: the
   * API returns a receipt only in the state "confirmed", and the device
   * accepts one only when the signer's certificate chains to the service CA,
   * names the service and the signature over the receipt text verifies. */
  function renderEraseReceipt(d) {
    const box = $('pv-erase-receipt');
    const dt = $('pv-erase-deleted'), kt = $('pv-erase-kept');
    dt.textContent = ''; kt.textContent = '';
    box.hidden = true;
    S.eraseDoc = null;
    if (d.state !== 'confirmed' || !d.receipt) return;
    let rc = null;
    try { rc = JSON.parse(d.receipt.receipt); } catch (e) { rc = null; }
    if (!rc || !Array.isArray(rc.deleted)) {
      $('pv-erase-state').textContent = 'Confirmed, but the receipt cannot be read by this page.';
      return;
    }
    let total = 0;
    for (const x of rc.deleted) {
      const n = Number(x.rows) || 0;
      total += n;
      row(dt, [String(x.what), String(x.where), String(n)]);
    }
    for (const x of rc.kept || []) row(kt, [String(x.what), String(x.where), String(x.why)]);
    if (!(rc.kept || []).length) row(kt, ['nothing', '', '']);
    $('pv-erase-verified').textContent = 'Signed by ' + (d.receipt.signer || 'the service') +
      (rc.service && rc.service !== d.receipt.signer ? ' for ' + rc.service : '') +
      (rc.erased_at ? ', erased ' + fmt(rc.erased_at) : '') +
      '. The device verified this signature (the signer\'s certificate is from the manufacturer\'s service and names the service) and that the receipt answers this device\'s request ' +
      rc.request + ' before accepting it, on ' + fmt(d.confirmed_at) + '. ' + total + ' record' + (total === 1 ? '' : 's') + ' deleted in all.';
    S.eraseDoc = d;
    box.hidden = false;
  }

  const ERASE_STATE = { none: 'Not asked.',
    requested: 'Waiting. The request is kept on the device; it is sent when the device is connected to the service, and the service\'s signed receipt is shown here when it comes.',
    confirmed: 'Done: the service erased the data and confirmed it with a signed receipt.' };

  async function loadServiceErase() {
    clearTimeout(S.erasePoll);
    const r = await api('GET', '/api/v1/privacy/service-erase');
    if (r.status !== 200) { $('pv-erase-state').textContent = words(r); return; }
    const d = r.data;
    $('pv-erase-state').textContent = ERASE_STATE[d.state] || d.state;
    $('pv-erase-state').dataset.state = d.state;
    $('pv-erase-asked').textContent = d.requested_at
      ? fmt(d.requested_at) + (d.requested_by ? ' by ' + d.requested_by : '') + ' (request ' + d.request_id + ')'
      : 'never';
    renderEraseReceipt(d);
    /* While the request waits, look again now and then: the receipt shows up
     * without a reload. */
    if (d.state === 'requested') {
      S.erasePoll = setTimeout(() => { if (S.view === 'privacy' && S.token) loadServiceErase(); }, 3000);
    }
  }

  onClick('pv-erase-dl', async () => {
    const d = S.eraseDoc;
    if (!d) return;
    download('hearth-service-erase-receipt-' + d.request_id + '.json', d);
    say('The service\'s erase receipt was saved as a file (check your downloads).', true);
  });

  function closeEraseConfirm() { $('pv-erase-confirm').hidden = true; $('pv-erase-btn').focus(); }
  onClick('pv-erase-btn', async () => { $('pv-erase-confirm').hidden = false; $('pv-erase-no').focus(); });
  onClick('pv-erase-no', async () => closeEraseConfirm());
  onClick('pv-erase-yes', async () => {
    const r = await api('POST', '/api/v1/privacy/service-erase');
    $('pv-erase-confirm').hidden = true;
    if (r.status !== 202) {
      say(r.data && r.data.error === 'no_service' ? 'This device is not connected to a manufacturer service, so there is nothing to erase there.' : words(r));
      $('pv-erase-btn').focus();
      return;
    }
    say('The erase request is recorded. It is sent to the service now, or as soon as the device is connected.', true);
    await loadServiceErase();
  });

  /* ------------------------------------------------------------ reset */

  LOADERS.reset = async () => {};

  onSubmit('f-reset', async (form) => {
    if ($('rs-confirm').value.trim().toLowerCase() !== 'factory reset') {
      say('To confirm, type the words factory reset in the second field.');
      $('rs-confirm').setAttribute('aria-invalid', 'true'); $('rs-confirm').focus();
      return;
    }
    const r = await api('POST', '/api/v1/factory-reset', { password: $('rs-pw').value, confirm: 'factory reset' });
    if (r.status !== 202) {
      say(r.data && r.data.error === 'wrong_password' ? 'Your password is not right. Nothing was erased.' : words(r));
      markInvalid(form, r.data && r.data.error === 'wrong_password' ? null : r.data && r.data.field);
      if (r.data && r.data.error === 'wrong_password') { $('rs-pw').setAttribute('aria-invalid', 'true'); $('rs-pw').focus(); }
      return;
    }
    form.reset();
    S.token = null;
    endSession();
    show('loading');
    say('The device is erased and restarting. When it is back, set it up with the setup password on its label.', true);
    for (let i = 0; i < 120; i++) {
      await new Promise((res) => setTimeout(res, 1000));
      const st = await api('GET', '/api/v1/device');
      if (st.status === 409 && st.data && st.data.error === 'setup_required') { S.keep = true; go('#/setup'); return; }
    }
    say('The device has not come back after two minutes. Check that it is powered; when it is back, reload this page and set it up with the setup password on its label.');
  });

  /* ----------------------------------------------------------- events */

  LOADERS.events = async () => {
    const r = await api('GET', '/api/v1/events?limit=50');
    if (r.status !== 200) { say(words(r)); return; }
    const ol = $('ev-list');
    ol.textContent = '';
    for (const e of r.data.events.slice().reverse()) {
      const li = document.createElement('li');
      li.className = 'sev-' + e.severity;
      const rest = Object.keys(e).filter((k) => !['ts', 'seq', 'severity', 'event'].includes(k))
        .map((k) => k + ' ' + e[k]).join(', ');
      li.textContent = when(e.ts) + ' ' + e.severity + ': ' + String(e.event).replace(/_/g, ' ') + (rest ? ' (' + rest + ')' : '');
      ol.appendChild(li);
    }
  };
  onClick('ev-refresh', () => LOADERS.events());

  /* ------------------------------------------------- check my setup (5.12-3) */

  const VERDICT_WORDS = { PASS: 'Good', FAIL: 'Needs attention', INCONCLUSIVE: 'Could not tell', 'N/A': 'Does not apply' };

  LOADERS.check = async () => {
    const ul = $('ck-list');
    ul.textContent = '';
    const r = await api('GET', '/api/v1/setup-check');
    if (r.status !== 200) { say(words(r)); return; }
    let bad = 0;
    for (const u of r.data.units) {
      const item = document.createElement('li');
      item.className = u.verdict === 'PASS' ? 'check-pass' : u.verdict === 'FAIL' ? 'check-fail' : 'check-other';
      const head = document.createElement('strong');
      head.textContent = (VERDICT_WORDS[u.verdict] || u.verdict) + ': ' + u.title;
      const detail = document.createElement('p');
      detail.textContent = u.evidence;
      item.appendChild(head);
      item.appendChild(detail);
      ul.appendChild(item);
      if (u.verdict === 'FAIL') bad++;
    }
    if (bad) say(bad === 1 ? 'One check needs attention: see below.' : bad + ' checks need attention: see below.');
    else say('Every check that applies passed.', true);
  };
  onClick('ck-run', () => LOADERS.check());

  /* Escape answers "no" to an open confirmation and disarms an armed erase
   * button: nothing destructive happens from the keyboard by accident. */
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    if (!$('pv-erase-confirm').hidden) closeEraseConfirm();
    if (!$('u-confirm').hidden) { $('u-confirm').hidden = true; $('u-install').focus(); }
    for (const b of document.querySelectorAll('button[data-armed="1"]')) disarm(b);
  });

  /* ------------------------------------------------------------- start */

  /* The skip link moves the focus to the page shown; following its #main
   * would be a hash change and route away from the page. */
  document.querySelector('.skip').addEventListener('click', (ev) => {
    ev.preventDefault();
    const h = document.querySelector('#view-' + S.view + ' h2');
    if (h) h.focus();
  });

  window.addEventListener('hashchange', () => { route(); });
  route();
})();
