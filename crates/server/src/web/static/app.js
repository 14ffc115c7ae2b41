// passeur's pages: plain JavaScript, no build step. Talks to the JSON API under /api/v1.
// The tracking account is kept in this tab's sessionStorage, never in a URL; passwords are
// only ever in the form fields, cleared once sent.
'use strict';
(function () {
  const T = JSON.parse(document.getElementById('i18n').textContent);
  const LANG = document.documentElement.lang || 'en';
  const ACCOUNT_KEY = 'passeur.account.';

  function msg(key, vars) {
    let s = Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key;
    for (const k in vars || {}) s = s.split('{' + k + '}').join(String(vars[k]));
    return s;
  }
  const $ = (id) => document.getElementById(id);

  // One call to the API: {status, data}; a network failure gives status 0.
  async function api(method, path, opts) {
    const o = opts || {};
    const headers = { Accept: 'application/json' };
    if (o.account) headers['X-Passeur-Account'] = o.account;
    let body;
    if (o.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(o.body);
    }
    let res;
    try {
      res = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
    } catch (e) {
      return { status: 0, data: null };
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { status: res.status, data };
  }

  // An error next to field `id` (its <p id="err-ID">), or cleared with ''.
  function setErr(id, text) {
    const el = $('err-' + id);
    if (el) el.textContent = text || '';
    const input = $(id);
    if (input && input.setAttribute) {
      if (text) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
  }

  function fmtBytes(n) {
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    let v = n;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return new Intl.NumberFormat(LANG, { maximumFractionDigits: i ? 1 : 0 }).format(v) + ' ' + units[i];
  }
  function fmtDate(secs) {
    if (!secs) return '—';
    return new Date(secs * 1000).toLocaleString(LANG);
  }
  function el(tag, props, text) {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- Track forms (home, /track, a tracking page without an account) ----
  function initTrackForms() {
    document.querySelectorAll('form[data-track-form]').forEach((form) => {
      const current = $('mig-id');
      const idInput = form.querySelector('#track-id');
      if (current && idInput && !idInput.value) idInput.value = current.textContent.trim();
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const id = idInput.value.trim().replace(/[^A-Za-z0-9]/g, '');
        const account = form.querySelector('#track-account').value.trim();
        if (!id || !account) {
          $('err-track').textContent = msg('err.required');
          (id ? form.querySelector('#track-account') : idInput).focus();
          return;
        }
        sessionStorage.setItem(ACCOUNT_KEY + id, account);
        location.href = '/track/' + encodeURIComponent(id);
      });
    });
  }

  // ---- One-account form ----
  const SIDES = ['src', 'dst'];
  const API_SIDE = { source: 'src', destination: 'dst' };

  // The form field an API error is about.
  function formField(apiField, message) {
    const m = /^(source|destination)\.(url|password|admin|dav)$/.exec(apiField || '');
    if (m) {
      const p = API_SIDE[m[1]];
      if (m[2] !== 'url') return p + '-' + m[2];
      if (/login/i.test(message)) return p + '-login';
      if (/port/i.test(message) && !/host/i.test(message)) return p + '-port';
      return p + '-host';
    }
    if (apiField === 'notify') return 'notify';
    if (apiField === 'start_at') return 'start-at';
    if (/^content/.test(apiField || '')) return 'content';
    return null;
  }

  // The API's (English) message, said in the page's language for that field.
  function fieldMessage(field, message) {
    if (/required for contacts/i.test(message)) return msg('err.dav_required');
    if (/is required/i.test(message)) return msg('err.required');
    const kind = field.replace(/^(src|dst)-/, '');
    const byKind = {
      host: 'err.host', port: 'err.port', login: 'err.login', admin: 'err.admin',
      notify: 'err.email', 'start-at': 'err.date', dav: 'err.dav', content: 'err.content',
    };
    if (byKind[kind]) return msg(byKind[kind]);
    return msg('err.generic') + ' ' + message;
  }

  // A side's server type. Choosing a provider preset fills in its host and port. "Sign in
  // with …" is offered only for a preset this service is registered with (a plain IMAP server
  // has no provider to sign in with), and then replaces the password field. The buttons send
  // the form to the server, which keeps it (never the passwords) while the browser is at the
  // provider.
  function initServerType(p) {
    const type = $(p + '-type');
    function sync() {
      const o = type.selectedOptions[0];
      const preset = (o && o.dataset.preset) || '';
      if ($(p + '-preset')) $(p + '-preset').value = preset;
      const wrap = $(p + '-oauth');
      let offered = false;
      if (wrap) {
        wrap.querySelectorAll('button').forEach((b) => {
          b.hidden = !preset || b.dataset.provider !== preset;
          if (!b.hidden) offered = true;
        });
        wrap.hidden = !offered;
      }
      const box = $(p + '-password-box');
      if (box) box.hidden = offered;
      const hint = $(p + '-type-hint');
      if (hint) hint.hidden = !type.value.startsWith('pop3');
    }
    type.addEventListener('change', () => {
      const o = type.selectedOptions[0];
      $(p + '-port').value = o.dataset.port;
      if (o.dataset.host) $(p + '-host').value = o.dataset.host;
      sync();
    });
    sync();
    autodetect(p, type);
  }

  // A login typed at a provider's domain (alice@outlook.com) while no server is given yet
  // chooses that provider's preset, and with it its "Sign in with …".
  function autodetect(p, type) {
    const login = $(p + '-login');
    login.addEventListener('change', () => {
      const cur = type.selectedOptions[0];
      if ((cur && cur.dataset.preset) || $(p + '-host').value.trim()) return;
      const domain = (login.value.trim().split('@')[1] || '').toLowerCase();
      if (!domain) return;
      const o = Array.from(type.options).find((x) => (x.dataset.domains || '').split(' ').includes(domain));
      if (!o) return;
      o.selected = true;
      type.dispatchEvent(new Event('change'));
    });
  }

  function initMigrate() {
    const form = $('migrate');
    const davNeeded = () =>
      Array.from(form.querySelectorAll('input[name=content]:checked')).some((c) => c.value !== 'mail');

    const oauthOnly = (p) => {
      const box = $(p + '-password-box');
      return !!box && box.hidden;
    };
    SIDES.forEach((p) => {
      initServerType(p);
      const deleg = $(p + '-deleg');
      const sync = () => {
        $(p + '-admin-box').hidden = !deleg.checked;
        deleg.setAttribute('aria-expanded', String(deleg.checked));
      };
      deleg.addEventListener('change', sync);
      sync();
    });
    const syncDav = () => {
      form.querySelectorAll('.field.dav').forEach((d) => { d.hidden = !davNeeded(); });
    };
    form.querySelectorAll('input[name=content]').forEach((c) => c.addEventListener('change', syncDav));
    syncDav();
    const syncWhen = () => {
      $('start-at-box').hidden = form.querySelector('input[name=when]:checked').value !== 'later';
    };
    form.querySelectorAll('input[name=when]').forEach((r) => r.addEventListener('change', syncWhen));
    syncWhen();

    // The two sides as the API takes them; missing fields are marked through `need`.
    let signinMissing = false;
    function sides(need, errors) {
      signinMissing = false;
      const out = {};
      SIDES.forEach((p) => {
        need(p + '-host');
        const port = Number($(p + '-port').value);
        if (!Number.isInteger(port) || port < 1 || port > 65535) { setErr(p + '-port', msg('err.port')); errors.push(p + '-port'); }
        need(p + '-login');
        const signed = !!$(p + '-signed');
        if (!signed && oauthOnly(p)) {
          const b = document.querySelector('#' + p + '-oauth button:not([hidden])');
          signinMissing = true;
          errors.push(b ? b.id || (b.id = p + '-signin') : p + '-type');
        } else if (!signed) need(p + '-password');
        if ($(p + '-deleg').checked) need(p + '-admin');
        if (davNeeded()) need(p + '-dav', 'err.dav_required');
        let host = $(p + '-host').value.trim();
        if (host.includes(':') && !host.startsWith('[')) host = '[' + host + ']';
        const side = {
          url: $(p + '-type').value + '://' + encodeURIComponent($(p + '-login').value.trim()) + '@' + host + ':' + port,
        };
        if (signed) side.signed_in = true;
        else side.password = $(p + '-password') ? $(p + '-password').value : '';
        if ($(p + '-deleg').checked) side.admin = $(p + '-admin').value.trim();
        if (davNeeded()) side.dav = $(p + '-dav').value.trim();
        out[p === 'src' ? 'source' : 'destination'] = side;
      });
      return out;
    }

    // "Test the connection": log in on both sides, say per side what happened.
    $('test-conn').hidden = false;
    $('test-conn').addEventListener('click', async () => {
      form.querySelectorAll('p.err').forEach((e) => { e.textContent = ''; });
      const errors = [];
      const need = (id, key) => {
        if (!$(id).value.trim()) { setErr(id, msg(key || 'err.required')); errors.push(id); }
      };
      const body = sides(need, errors);
      SIDES.forEach((p) => { $(p + '-test').textContent = ''; delete $(p + '-test').dataset.result; });
      if (errors.length) { $('err-form').textContent = msg(signinMissing ? 'err.signin' : 'err.form'); return; }
      // A DAV server given for contacts and calendars is tried too.
      ['source', 'destination'].forEach((k) => { if (!body[k].dav) delete body[k].dav; });
      $('test-conn').disabled = true;
      $('testing').textContent = msg('testing');
      const r = await api('POST', '/api/v1/connection-tests', { body });
      $('test-conn').disabled = false;
      $('testing').textContent = '';
      if (r.status !== 200 || !r.data) { $('err-form').textContent = apiText(r); return; }
      SIDES.forEach((p) => {
        const t = r.data[p === 'src' ? 'source' : 'destination'];
        const out = $(p + '-test');
        out.dataset.result = t.ok ? 'ok' : t.reason;
        let text = t.ok ? msg('test.ok') : msg('test.' + t.reason);
        if (t.dav) {
          out.dataset.dav = t.dav.ok ? 'ok' : t.dav.reason;
          text += ' ' + msg('test.dav') + ' ' + (t.dav.ok ? msg('test.ok') : msg('test.' + t.dav.reason));
        } else {
          delete out.dataset.dav;
        }
        out.textContent = text;
      });
    });

    form.addEventListener('submit', async (ev) => {
      // "Sign in with …" and "Sign out" go to the server as a plain form.
      if (ev.submitter && /^\/oauth\//.test(ev.submitter.getAttribute('formaction') || '')) return;
      ev.preventDefault();
      form.querySelectorAll('p.err').forEach((e) => { e.textContent = ''; });
      form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
      const errors = [];
      const need = (id, key) => {
        if (!$(id).value.trim()) { setErr(id, msg(key || 'err.required')); errors.push(id); }
      };
      const content = Array.from(form.querySelectorAll('input[name=content]:checked')).map((c) => c.value);
      // The notifications speak the page's language (not the browser's Accept-Language).
      const body = Object.assign({ content, lang: LANG }, sides(need, errors));
      if (!content.length) { setErr('content', msg('err.content')); errors.push('content'); }
      const notify = $('notify').value.trim();
      if (notify) body.notify = notify;
      if (form.querySelector('input[name=when]:checked').value === 'later') {
        const d = new Date($('start-at').value);
        if (!$('start-at').value || isNaN(d.getTime())) { setErr('start-at', msg('err.date')); errors.push('start-at'); }
        else body.start_at = d.toISOString();
      }
      if (errors.length) {
        $('err-form').textContent = msg(signinMissing ? 'err.signin' : 'err.form');
        const first = $(errors[0]);
        (first && first.focus ? first : $('err-form')).focus();
        return;
      }
      $('submit').disabled = true;
      $('sending').textContent = msg('sending');
      const r = await api('POST', '/api/v1/migrations', { body });
      $('submit').disabled = false;
      $('sending').textContent = '';
      if (r.status === 201 && r.data && r.data.id) {
        created(r.data.id, $('src-login').value.trim(), notify);
        return;
      }
      if (r.status === 0) { $('err-form').textContent = msg('err.network'); $('err-form').focus(); return; }
      const apiError = (r.data && r.data.error) || ('HTTP ' + r.status);
      const field = r.data && formField(r.data.field, apiError);
      if (field && $('err-' + field)) {
        setErr(field, fieldMessage(field, apiError));
        $('err-form').textContent = msg('err.form');
        const input = $(field);
        if (input && input.focus) input.focus();
      } else {
        $('err-form').textContent = apiText(r);
        $('err-form').focus();
      }
    });
  }

  function created(id, account, notify, formId, keepKey) {
    sessionStorage.setItem(ACCOUNT_KEY + id, account);
    const form = $(formId || 'migrate');
    form.querySelectorAll('input[type=password]').forEach((i) => { i.value = ''; });
    form.hidden = true;
    const out = $('result');
    out.replaceChildren();
    out.append(el('h2', {}, msg('created')));
    const p = el('p', {}, msg('your_id') + ' ');
    p.append(el('code', { id: 'new-id', className: 'big' }, id));
    out.append(p, el('p', {}, msg(keepKey || 'keep_id')));
    if (notify) out.append(el('p', { id: 'mailed' }, msg('mailed', { addr: notify })));
    const a = el('a', { id: 'track-link', className: 'button', href: '/track/' + encodeURIComponent(id) }, msg('track_link'));
    const pa = el('p');
    pa.append(a);
    out.append(pa);
    out.hidden = false;
    out.focus();
  }

  // ---- Tracking ----
  // Updates arrive through `watch`: it polls every 2 s today; switching to Server-Sent Events
  // means replacing its body with an EventSource whose messages call onData the same way.
  // Live updates: Server-Sent Events (the account goes in the query, as EventSource cannot
  // send headers); polling every 2 s when the stream is unavailable.
  function watch(id, account, onData, onGone) {
    const path = '/api/v1/migrations/' + encodeURIComponent(id);
    let timer = null;
    let stopped = false;
    let es = null;
    async function tick() {
      clearTimeout(timer);
      const r = await api('GET', path, { account });
      if (stopped) return;
      if (r.status === 200 && r.data) onData(r.data);
      else if (r.status === 404) { stopped = true; if (es) es.close(); onGone(); return; }
      if (!es) timer = setTimeout(tick, 2000);
    }
    function live() {
      if (!window.EventSource) { tick(); return; }
      es = new EventSource(path + '/events?account=' + encodeURIComponent(account));
      es.addEventListener('migration', (e) => {
        if (stopped) return;
        try { onData(JSON.parse(e.data)); } catch (_) { /* a partial event: the next one comes */ }
      });
      es.onerror = () => {
        if (es && es.readyState === EventSource.CLOSED) { es = null; tick(); }
      };
    }
    live();
    return {
      refresh: tick,
      stop: () => { stopped = true; clearTimeout(timer); if (es) es.close(); },
    };
  }

  function initTracking() {
    const id = $('mig-id').textContent.trim();
    const account = sessionStorage.getItem(ACCOUNT_KEY + id);
    if (!account) { $('ask').hidden = false; return; }
    $('view').hidden = false;
    let last = null;
    // "Synchronisation started." / "Stop requested." stand until the pass they are about has
    // ended: the status left running/queued after being in them, or a new pass ended.
    let said = null;
    function clearSaid(m) {
      if (!said) return;
      if (m.status === 'running' || m.status === 'queued') { said.seen = true; return; }
      if (said.seen || m.passes.length > said.passes) { $('action-msg').textContent = ''; said = null; }
    }
    const w = watch(id, account, (m) => { last = m; show(m); clearSaid(m); showPurge(m.purge); purgeOffer(m); signinOffer(m); }, () => {
      sessionStorage.removeItem(ACCOUNT_KEY + id);
      // Nothing to show: no empty status, tables and buttons under the message.
      $('view').hidden = true;
      $('err-view').textContent = msg('err.notfound');
      $('ask').hidden = false;
    });
    const path = '/api/v1/migrations/' + encodeURIComponent(id);
    const busy = (m) => m && (m.status === 'running' || m.status === 'queued' ||
      (m.purge && (m.purge.state === 'queued' || m.purge.state === 'running')));

    $('report-dl').addEventListener('click', async () => {
      const r = await fetch(path + '/report.csv', { headers: { 'X-Passeur-Account': account } });
      if (!r.ok) { $('action-msg').textContent = msg('err.generic'); return; }
      const a = el('a', { href: URL.createObjectURL(await r.blob()), download: 'passeur-' + id + '-report.csv' });
      document.body.append(a);
      a.click();
      a.remove();
    });
    $('stop').addEventListener('click', async () => {
      const r = await api('POST', path + '/stop', { account });
      $('action-msg').textContent = r.status === 202 ? msg('stop.sent') : apiText(r);
      said = r.status === 202 ? { seen: true, passes: last ? last.passes.length : 0 } : null;
      w.refresh();
    });
    $('sync').addEventListener('click', async () => {
      const r = await api('POST', path + '/sync', { account });
      $('action-msg').textContent = r.status === 202 ? msg('sync.sent') : r.status === 409 ? msg('err.busy') : apiText(r);
      said = r.status === 202 ? { seen: false, passes: last ? last.passes.length : 0 } : null;
      w.refresh();
    });

    // A new password for a side (wrong or changed): checked by a login on the server before it
    // is kept; never kept in the page once sent.
    $('creds').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      setErr('creds-src', '');
      setErr('creds-dst', '');
      $('creds-result').textContent = '';
      const body = {};
      if ($('creds-src').value) body.source_password = $('creds-src').value;
      if ($('creds-dst').value) body.destination_password = $('creds-dst').value;
      if (!body.source_password && !body.destination_password) {
        setErr($('creds-src-box').hidden ? 'creds-dst' : 'creds-src', msg('creds.none'));
        return;
      }
      $('creds-save').disabled = true;
      const r = await api('POST', path + '/credentials', { account, body });
      $('creds-save').disabled = !!last && last.status === 'running';
      if (r.status === 204) {
        $('creds-src').value = '';
        $('creds-dst').value = '';
        $('creds-result').textContent = msg('creds.saved');
        return;
      }
      const field = r.data && r.data.field;
      const text = r.data && r.data.error;
      const id = field === 'source_password' ? 'creds-src' : field === 'destination_password' ? 'creds-dst' : null;
      const said = r.status === 409 ? msg('err.busy')
        : r.status === 422 && /refused/.test(text || '') ? msg('creds.refused') : apiText(r);
      if (id) { setErr(id, said); $(id).focus(); } else $('creds-result').textContent = said;
    });

    // A migration that waits for its owner's sign-in (a provider that takes no password):
    // "Sign in with …" for each side that waits (the browser goes to the provider and back),
    // then "Start the migration" hands the tokens to it.
    function signinOffer(m) {
      const wait = m && m.status === 'sign_in' ? (m.sign_in || []) : [];
      $('signin-section').hidden = !wait.length;
      if (!wait.length) return;
      let ready = true;
      [['source', 'src'], ['destination', 'dst']].forEach(([side, key]) => {
        const w = wait.find((x) => x.side === side);
        $('signin-' + key).hidden = !w;
        if (!w) return;
        let login = '';
        try { login = decodeURIComponent(new URL(String(m[side]).split(' ')[0]).username); } catch (_) { login = ''; }
        $('signin-' + key + '-login').textContent = login;
        $('signin-' + key).querySelectorAll('button[name=oauth]').forEach((b) => { b.hidden = b.dataset.provider !== w.provider; });
        if (!$('signin-' + key + '-done')) ready = false;
      });
      $('signin-go').disabled = !ready;
    }
    $('signin-go').addEventListener('click', async () => {
      const body = {};
      ((last && last.sign_in) || []).forEach((x) => { body[x.side + '_signed_in'] = true; });
      const r = await api('POST', path + '/sign-in', { account, body });
      if (r.status === 202) {
        $('err-signin').textContent = '';
        $('action-msg').textContent = msg('signin.sent');
        w.refresh();
      } else {
        $('err-signin').textContent = r.status === 422 ? msg('signin.missing') : apiText(r);
      }
    });

    let pending = null;
    // A destination signed in to with a provider confirms with a new sign-in ("Sign in
    // with …" sends the browser there and back); the token stays on the server.
    let purgeSigned = !$('purge-signed').hidden;
    // A sign-in confirms one deletion: once the server took it, the page asks as it did
    // before (the password, or signing in again), without a reload.
    function signinUsed() {
      purgeSigned = false;
      $('purge-signed').hidden = true;
      $('purge-password-box').hidden = false;
      purgeOffer(last);
    }
    // "Sign in with …" confirms a deletion only where it means something: the provider the
    // destination logs in with, or whose server it is.
    function purgeOffer(m) {
      const wrap = $('purge-oauth');
      if (!wrap || !m) return;
      let host = '';
      try { host = new URL(String(m.destination).split(' ')[0]).hostname.toLowerCase(); } catch (_) { host = ''; }
      let any = false;
      wrap.querySelectorAll('button').forEach((b) => {
        b.hidden = !(b.dataset.provider === m.destination_provider || (b.dataset.host && b.dataset.host === host));
        if (!b.hidden) any = true;
      });
      wrap.hidden = purgeSigned || !any;
      // A destination that logs in through its provider has no password to type.
      $('purge-password-box').hidden = purgeSigned || !!m.destination_provider;
    }
    const credentials = () => (purgeSigned
      ? { destination_signed_in: true }
      : { destination_password: $('purge-password').value });
    const purgeErr = (r) => {
      if (r.status === 422) setErr('purge-password', purgeSigned ? msg('err.signin') : msg('err.required'));
      else if (r.status === 409) setErr('purge-password', msg('err.busy'));
      else setErr('purge-password', apiText(r));
      if (!purgeSigned) $('purge-password').focus();
    };
    $('purge').addEventListener('submit', async (ev) => {
      if (ev.submitter && /^\/oauth\//.test(ev.submitter.getAttribute('formaction') || '')) return;
      ev.preventDefault();
      setErr('purge-password', '');
      $('purge-result').textContent = '';
      $('purge-confirm').hidden = true;
      if (!purgeSigned && last && last.destination_provider) { setErr('purge-password', msg('purge.signin')); return; }
      const password = purgeSigned ? 'signed' : $('purge-password').value;
      if (!password) { setErr('purge-password', msg('err.required')); $('purge-password').focus(); return; }
      if (busy(last)) { setErr('purge-password', msg('err.busy')); return; }
      const from = Number($('purge-from').value || 1);
      const r = await api('POST', path + '/purge', { account, body: Object.assign({ from_pass: from, dry_run: true }, credentials()) });
      if (r.status !== 200 || !r.data) { purgeErr(r); return; }
      if (!r.data.deleted) { $('purge-result').textContent = msg('purge.nothing'); return; }
      pending = { from_pass: from };
      let text = msg('purge.confirm', { n: r.data.deleted });
      if (r.data.skipped) text += ' ' + msg('purge.skipped', { n: r.data.skipped });
      $('purge-count').textContent = text;
      $('purge-count').dataset.count = r.data.deleted;
      $('purge-confirm').hidden = false;
      $('purge-yes').focus();
    });
    $('purge-cancel').addEventListener('click', () => {
      pending = null;
      $('purge-confirm').hidden = true;
      $('purge-check').focus();
    });
    $('purge-yes').addEventListener('click', async () => {
      if (!pending) return;
      const body = Object.assign({ from_pass: pending.from_pass, dry_run: false }, credentials());
      const r = await api('POST', path + '/purge', { account, body });
      $('purge-confirm').hidden = true;
      pending = null;
      if (r.status !== 202 || !r.data) { purgeErr(r); return; }
      if (purgeSigned) signinUsed();
      $('purge-password').value = '';
      showPurge(r.data);
      w.refresh();
    });

    // The deletion runs as a job on the server: its state arrives with the migration's.
    function showPurge(p) {
      const out = $('purge-result');
      if (!p) return;
      delete out.dataset.deleted;
      out.dataset.state = p.state;
      if (p.state === 'done') {
        out.textContent = msg('purge.done', { n: p.deleted });
        out.dataset.deleted = p.deleted;
      } else if (p.state === 'failed') {
        out.textContent = msg('purge.failed') + ' ' + sideError(p.error);
      } else {
        out.textContent = msg('purge.running');
      }
    }
  }

  function apiText(r) {
    if (r.status === 0) return msg('err.network');
    if (r.status === 404) return msg('err.notfound');
    const text = (r.data && r.data.error) || ('HTTP ' + r.status);
    if (r.data && codeText(r.data.code)) return sideError(text, r.data.code);
    return msg('err.generic') + ' ' + text;
  }

  function statusText(s) {
    return Object.prototype.hasOwnProperty.call(T, 'st.' + s) ? msg('st.' + s) : s;
  }

  // "destination: cannot log in…" names the side in the page's language; the rest is the
  // server's or the engine's own words.
  function sideError(e, code) {
    if (!e) return '';
    const m = /^(source|destination): (.*)$/s.exec(e);
    const side = m ? msg(m[1] === 'source' ? 'side.source' : 'side.destination') + ' — ' : '';
    const detail = m ? m[2] : e;
    const said = codeText(code);
    // The page's language first; the server's own words after, for whoever helps.
    return said ? side + said + ' (' + detail + ')' : side + detail;
  }

  // What an error code (the API's `code`, a migration's `error_code`) says in this page's
  // language, or '' when the page has no words for it.
  function codeText(code) {
    if (!code) return '';
    for (const key of ['code.' + code, 'test.' + code]) {
      if (Object.prototype.hasOwnProperty.call(T, key)) return msg(key);
    }
    if (code === 'busy' || code === 'conflict') return msg('err.busy');
    if (code === 'not_found') return msg('err.notfound');
    return '';
  }

  function show(m) {
    const st = $('status');
    st.textContent = statusText(m.status);
    st.dataset.status = m.status;
    $('status-error').textContent = sideError(m.error, m.error_code);
    $('updated').textContent = msg('updated', { time: new Date().toLocaleTimeString(LANG) });

    // Progress per content kind: a bar with the share done when the total is known, the
    // count, and the rate and time left while a pass runs.
    const kinds = $('kinds');
    kinds.replaceChildren();
    (m.progress || []).forEach((p) => {
      const li = el('li');
      const id = 'bar-' + p.kind;
      li.append(el('label', { htmlFor: id }, msg('kind.' + p.kind)));
      const bar = el('progress', { id, max: 100 });
      const running = m.status === 'running';
      // While a pass runs, the pass's own view; after, what the item map holds (a purge lowers it).
      const n = running && p.total ? p.done : p.kind === 'mail' ? m.items : p.done;
      // Stopped, failed, waiting for a retry or a provider's daily reset: the share copied
      // of what the last pass found, not an empty bar.
      const part = !running && m.status !== 'done' && m.status !== 'queued' && p.total > 0 && n < p.total;
      if (running && p.percent !== null && p.percent !== undefined) bar.value = p.percent;
      // Done: full while the migrated items are there; empty once a purge deleted them all.
      else if (m.status === 'done') bar.value = n > 0 ? 100 : 0;
      else if (part) bar.value = Math.floor(n * 100 / p.total);
      else if (m.status !== 'running' && m.status !== 'queued') bar.value = 0;
      bar.dataset.value = String(bar.value);
      li.append(bar);
      const count = el('span', { className: 'count' },
        (running || part) && p.total ? msg('items_of', { n, total: p.total }) : msg('items', { n }));
      count.dataset.kind = p.kind;
      count.dataset.count = n;
      li.append(count);
      if (running && p.rate > 0) {
        const eta = p.eta_seconds === null || p.eta_seconds === undefined ? '' : ' · ' + msg('eta', { time: fmtDuration(p.eta_seconds) });
        li.append(el('span', { className: 'rate' }, msg('rate', { rate: p.rate.toFixed(1) }) + eta));
      }
      kinds.append(li);
    });
    $('total').textContent = msg('items_total', { n: m.items, size: fmtBytes(m.bytes) });

    const tb = $('passes').tBodies[0];
    tb.replaceChildren();
    m.passes.forEach((p) => {
      const tr = el('tr');
      tr.append(el('th', { scope: 'row' }, String(p.number)));
      tr.append(el('td', {}, statusText(p.status) + (p.error ? ' — ' + sideError(p.error) : '')));
      tr.append(el('td', {}, fmtDate(p.started_at)));
      tr.append(el('td', {}, fmtDate(p.finished_at)));
      tr.append(el('td', { className: 'num' }, String(p.copied)));
      tr.append(el('td', { className: 'num' }, String(p.failed)));
      tb.append(tr);
    });

    const sel = $('purge-from');
    const chosen = sel.value;
    sel.replaceChildren();
    m.passes.forEach((p) => {
      sel.append(el('option', { value: String(p.number) }, p.number + ' — ' + fmtDate(p.started_at)));
    });
    if (chosen && Array.from(sel.options).some((o) => o.value === chosen)) sel.value = chosen;

    const fl = $('failures');
    fl.replaceChildren();
    if (!m.failures.length) fl.append(el('li', { className: 'none' }, msg('none')));
    const rep = $('report');
    if (rep) rep.hidden = !m.failures.length;
    m.failures.forEach((f) => {
      fl.append(el('li', {}, '[' + statusText(f.kind) + '] ' + f.folder + ' ' + f.item + ' — ' + f.reason));
    });

    // Items that arrived changed (calendars and contacts): shown only when there are some.
    const notes = m.notes || [];
    const nl = $('notes');
    if (nl) {
      nl.replaceChildren();
      $('notes-section').hidden = !notes.length;
      notes.forEach((n) => {
        const what = msg(n.repaired ? 'note.repaired' : 'note.warning');
        // French puts a space before the colon.
        const sep = document.documentElement.lang === 'fr' ? ' : ' : ': ';
        // The note in this page's language when its kind is known; else the engine's words.
        const key = 'notek.' + n.code;
        const said = n.code && Object.prototype.hasOwnProperty.call(T, key) ? msg(key, n.params) : n.note;
        // A note about the file itself names its line.
        const line = /^line:(\d+)$/.exec(n.item || '');
        const item = line ? msg('note.line', { n: line[1] }) : n.item;
        const li = el('li', {}, '[' + msg('kind.' + n.kind) + '] ' + n.folder + ' ' + item + ' — ' + what + sep + said);
        li.dataset.code = n.code || '';
        nl.append(li);
      });
    }

    const running = m.status === 'running' || m.status === 'queued';
    $('stop').disabled = !running;
    const waits = m.status === 'sign_in';
    // Nothing was copied yet: there is nothing to delete.
    $('purge').hidden = waits;
    // A file migration cannot be synchronised: its source is the uploaded file.
    $('sync').disabled = running || waits || String(m.source).startsWith('file:');
    // After a stop or a failure the same button goes on where the last pass ended: say so.
    const resume = ['stopped', 'failed', 'incomplete', 'scheduled'].includes(m.status) && m.passes.length > 0;
    $('sync').textContent = msg(resume ? 'resume' : 'sync');
    $('sync-hint').textContent = msg(resume ? 'resume.hint' : 'sync.hint');
    $('sync').dataset.mode = resume ? 'resume' : 'sync';
    $('purge-check').disabled = running || !m.passes.length;
    $('creds-save').disabled = m.status === 'running';
    // Only a side that logs in with a password has one to change: not a file import's source,
    // not a side that signs in with its provider (or waits to).
    const signsIn = (side) => (m.sign_in || []).some((w) => w.side === side);
    $('creds-src-box').hidden = String(m.source).startsWith('file:') || !!m.source_provider || signsIn('source');
    $('creds-dst-box').hidden = !!m.destination_provider || signsIn('destination');
    $('creds').hidden = $('creds-src-box').hidden && $('creds-dst-box').hidden;
  }

  // ---- Migration from a file ----
  // The file goes up over the API's tus endpoint in chunks (PATCH), each resumable: the
  // upload's URL is kept in localStorage under the file's name, size and date, so that after
  // a reload (or a cut) choosing the same file again asks the server where it stopped (HEAD)
  // and sends only the rest. No password is ever stored.
  const UPLOAD_KEY = 'passeur.upload.';
  const CHUNK = 8 * 1024 * 1024;

  function tusRequest(method, url, headers, body, onProgress) {
    return new Promise((resolve) => {
      const x = new XMLHttpRequest();
      x.open(method, url);
      x.setRequestHeader('Tus-Resumable', '1.0.0');
      for (const k in headers) x.setRequestHeader(k, headers[k]);
      if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded);
      x.onload = () => resolve({ status: x.status, header: (h) => x.getResponseHeader(h), text: x.responseText });
      x.onerror = () => resolve({ status: 0, header: () => null, text: '' });
      x.ontimeout = x.onerror;
      x.send(body === undefined ? null : body);
    });
  }

  function b64utf8(s) {
    const bytes = new TextEncoder().encode(s);
    let bin = '';
    bytes.forEach((b) => { bin += String.fromCharCode(b); });
    return btoa(bin);
  }

  function fmtDuration(secs) {
    if (!isFinite(secs)) return '…';
    secs = Math.ceil(secs);
    if (secs < 60) return secs + ' s';
    if (secs < 3600) return Math.floor(secs / 60) + ' min ' + (secs % 60) + ' s';
    return Math.floor(secs / 3600) + ' h ' + Math.floor((secs % 3600) / 60) + ' min';
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function initFile() {
    const form = $('upload-form');
    const input = $('file');
    const drop = $('drop');
    let uploadUrl = null;
    let storeKey = null;
    let busy = false;
    ['dragenter', 'dragover'].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add('over'); }));
    ['dragleave', 'drop'].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove('over'); }));
    drop.addEventListener('drop', (e) => {
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        upload();
      }
    });
    form.addEventListener('submit', (e) => { e.preventDefault(); upload(); });

    function show(done, size, startOffset, started) {
      const pct = size ? Math.floor(done * 100 / size) : 100;
      $('up-bar').value = pct;
      const secs = (Date.now() - started) / 1000;
      const rate = secs > 0 ? (done - startOffset) / secs : 0;
      const left = rate > 0 ? (size - done) / rate : Infinity;
      $('up-status').textContent = msg('up.progress', { percent: pct, speed: fmtBytes(rate), left: fmtDuration(left) });
    }

    async function upload() {
      if (busy) return;
      setErr('file', '');
      const file = input.files[0];
      if (!file) { setErr('file', msg('up.nofile')); input.focus(); return; }
      busy = true;
      $('upload').disabled = true;
      storeKey = UPLOAD_KEY + file.name + ':' + file.size + ':' + file.lastModified;
      let url = localStorage.getItem(storeKey);
      let offset = 0;
      if (url) {
        const h = await tusRequest('HEAD', url);
        if (h.status === 200) {
          offset = Number(h.header('Upload-Offset')) || 0;
          $('up-status').textContent = msg('up.resumed', { percent: file.size ? Math.floor(offset * 100 / file.size) : 100 });
        } else {
          localStorage.removeItem(storeKey);
          url = null;
        }
      }
      if (!url) {
        const c = await tusRequest('POST', '/api/v1/uploads', {
          'Upload-Length': String(file.size),
          'Upload-Metadata': 'filename ' + b64utf8(file.name),
        });
        if (c.status !== 201) {
          busy = false;
          $('upload').disabled = false;
          setErr('file', c.status === 413 ? msg('up.toolarge') : c.status === 415 ? msg('up.type') : c.status === 0 ? msg('err.network') : msg('up.failed') + ' ' + c.text);
          return;
        }
        url = c.header('Location');
        localStorage.setItem(storeKey, url);
      }
      const startOffset = offset;
      const started = Date.now();
      let wait = 1000;
      while (offset < file.size) {
        const end = Math.min(offset + CHUNK, file.size);
        const r = await tusRequest('PATCH', url, {
          'Content-Type': 'application/offset+octet-stream',
          'Upload-Offset': String(offset),
        }, file.slice(offset, end), (loaded) => show(offset + loaded, file.size, startOffset, started));
        if (r.status === 204) {
          offset = Number(r.header('Upload-Offset'));
          wait = 1000;
          show(offset, file.size, startOffset, started);
          continue;
        }
        if (r.status === 415) {
          // Its first bytes are not those of a file this service imports: nothing more is sent.
          localStorage.removeItem(storeKey);
          busy = false;
          $('upload').disabled = false;
          $('up-status').textContent = '';
          setErr('file', msg('up.content'));
          input.focus();
          return;
        }
        if (r.status === 404) {
          // Expired or deleted: start again from nothing.
          localStorage.removeItem(storeKey);
          busy = false;
          return upload();
        }
        // A cut, a busy or moved offset: ask the server where it is, then go on.
        $('up-status').textContent = msg('up.retry');
        await sleep(wait);
        wait = Math.min(wait * 2, 30000);
        const h = await tusRequest('HEAD', url);
        if (h.status === 200) offset = Number(h.header('Upload-Offset')) || 0;
      }
      $('up-bar').value = 100;
      $('up-status').textContent = msg('up.done');
      uploadUrl = url;
      // Kept by the server across a "Sign in with …" (the upload's URL, never a password).
      $('upload-url').value = url;
      busy = false;
      $('import-form').hidden = false;
      $('dst-host').focus();
    }

    const type = $('dst-type');
    initServerType('dst');

    const imp = $('import-form');
    // Back from "Sign in with …": the file is already sent.
    if ($('upload-url').value) {
      uploadUrl = $('upload-url').value;
      $('up-bar').value = 100;
      $('up-status').textContent = msg('up.done');
      imp.hidden = false;
    }
    imp.addEventListener('submit', async (ev) => {
      if (ev.submitter && /^\/oauth\//.test(ev.submitter.getAttribute('formaction') || '')) return;
      ev.preventDefault();
      imp.querySelectorAll('p.err').forEach((e) => { e.textContent = ''; });
      imp.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
      const errors = [];
      const need = (id) => { if (!$(id).value.trim()) { setErr(id, msg('err.required')); errors.push(id); } };
      need('dst-host');
      need('dst-login');
      const signed = !!$('dst-signed');
      const signinMissing = !signed && !!$('dst-password-box') && $('dst-password-box').hidden;
      if (signinMissing) {
        const b = document.querySelector('#dst-oauth button:not([hidden])');
        errors.push(b ? b.id || (b.id = 'dst-signin') : 'dst-type');
      } else if (!signed) need('dst-password');
      const port = Number($('dst-port').value);
      if (!Number.isInteger(port) || port < 1 || port > 65535) { setErr('dst-port', msg('err.port')); errors.push('dst-port'); }
      let host = $('dst-host').value.trim();
      if (host.includes(':') && !host.startsWith('[')) host = '[' + host + ']';
      const login = $('dst-login').value.trim();
      const destination = {
        url: type.value + '://' + encodeURIComponent(login) + '@' + host + ':' + port,
      };
      if (signed) destination.signed_in = true;
      else destination.password = $('dst-password') ? $('dst-password').value : '';
      const dav = $('dst-dav').value.trim();
      if (dav) destination.dav = dav;
      const content = Array.from(imp.querySelectorAll('input[name=content]:checked')).map((c) => c.value);
      const body = { upload: uploadUrl, destination, content, lang: LANG };
      const notify = $('notify').value.trim();
      if (notify) body.notify = notify;
      if (errors.length) {
        $('err-form').textContent = msg(signinMissing ? 'err.signin' : 'err.form');
        $(errors[0]).focus();
        return;
      }
      $('start').disabled = true;
      $('sending').textContent = msg('sending');
      const r = await api('POST', '/api/v1/imports', { body });
      $('start').disabled = false;
      $('sending').textContent = '';
      if (r.status === 201 && r.data && r.data.id) {
        if (storeKey) localStorage.removeItem(storeKey);
        form.hidden = true;
        created(r.data.id, login, notify, 'import-form', 'file_keep_id');
        return;
      }
      if (r.status === 0) { $('err-form').textContent = msg('err.network'); $('err-form').focus(); return; }
      const apiError = (r.data && r.data.error) || ('HTTP ' + r.status);
      const field = r.data && r.data.field === 'destination.dav' ? 'dst-dav'
        : r.data && r.data.field ? formField(r.data.field, apiError) : null;
      if (field && $('err-' + field)) {
        setErr(field, fieldMessage(field, apiError));
        $('err-form').textContent = msg('err.form');
        const el = $(field);
        if (el && el.focus) el.focus();
      } else {
        $('err-form').textContent = apiText(r);
        $('err-form').focus();
      }
    });
  }

  initTrackForms();
  const page = document.body.dataset.page;
  if (page === 'migrate') initMigrate();
  if (page === 'tracking') initTracking();
  if (page === 'file') initFile();
})();
