// passeur's project pages: create, log in, and the dashboard. Plain JavaScript, no build step.
// The session lives only in an HttpOnly cookie; changes carry the page's CSRF token. Passwords
// stay in their fields and are cleared once sent; nothing goes to the browser's storage.
'use strict';
(function () {
  const T = JSON.parse(document.getElementById('i18n').textContent);
  const LANG = document.documentElement.lang || 'en';
  const $ = (id) => document.getElementById(id);

  function msg(key, vars) {
    let s = Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key;
    for (const k in vars || {}) s = s.split('{' + k + '}').join(String(vars[k]));
    return s;
  }

  let CSRF = '';

  // One call to the API: {status, data}; a network failure gives status 0.
  async function api(method, path, body, raw) {
    const headers = { Accept: 'application/json' };
    if (CSRF) headers['X-CSRF-Token'] = CSRF;
    let payload;
    if (raw !== undefined) {
      payload = raw;
      headers['Content-Type'] = 'application/octet-stream';
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    if (path.endsWith('/session') && method === 'POST') headers['X-Passeur-Cookie'] = '1';
    let res;
    try {
      res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
    } catch (e) {
      return { status: 0, data: null };
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { status: res.status, data };
  }

  function apiText(r) {
    if (r.status === 0) return msg('err.network');
    if (r.status === 401) return msg('pj.expired');
    if (r.status === 429) return msg('pj.throttled');
    const text = (r.data && r.data.error) || ('HTTP ' + r.status);
    const said = codeText(r.data && r.data.code);
    return said ? said + ' (' + text + ')' : msg('err.generic') + ' ' + text;
  }

  // What an error code (the API's `code`, a migration's `error_code`) says in this page's
  // language, or '' when the page has no words for it.
  function codeText(code) {
    if (!code) return '';
    for (const key of ['code.' + code, 'test.' + code]) {
      if (Object.prototype.hasOwnProperty.call(T, key)) return msg(key);
    }
    return '';
  }

  // A migration's error: the page's words first, the server's after.
  function errorText(m) {
    const said = codeText(m.error_code);
    return said ? said + ' (' + m.error + ')' : m.error;
  }

  function setErr(id, text) {
    const el = $('err-' + id);
    if (el) el.textContent = text || '';
    const input = $(id);
    if (input) {
      if (text) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
  }

  function summary(text) {
    const s = $('err-form');
    s.textContent = text || '';
    if (text) s.focus();
  }

  function statusText(s) {
    return Object.prototype.hasOwnProperty.call(T, 'st.' + s) ? msg('st.' + s) : s;
  }

  function el(tag, props, text) {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function strong(p) {
    return p.length >= 10 && /[A-Z]/.test(p) && /[a-z]/.test(p) && /[0-9]/.test(p) && /[^A-Za-z0-9]/.test(p);
  }

  // ---- create ----------------------------------------------------------------------------
  function initNew() {
    const form = $('project-new');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      summary('');
      const fields = { name: $('pj-name'), password: $('pj-password'), notify: $('pj-notify') };
      let bad = null;
      ['pj-name', 'pj-password', 'pj-notify', 'pj-simultaneous'].forEach((id) => setErr(id, ''));
      if (!fields.name.value.trim()) { setErr('pj-name', msg('err.required')); bad = bad || fields.name; }
      if (!strong(fields.password.value)) { setErr('pj-password', msg('pj.weak')); bad = bad || fields.password; }
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(fields.notify.value.trim())) { setErr('pj-notify', msg('err.email')); bad = bad || fields.notify; }
      const sim = parseInt($('pj-simultaneous').value, 10);
      if (!(sim >= 1 && sim <= 50)) { setErr('pj-simultaneous', msg('err.generic') + ' 1–50'); bad = bad || $('pj-simultaneous'); }
      if (bad) { summary(msg('err.form')); bad.focus(); return; }
      $('pj-create').disabled = true;
      const r = await api('POST', '/api/v1/projects', {
        name: fields.name.value.trim(),
        password: fields.password.value,
        notify: fields.notify.value.trim(),
        lang: LANG,
        options: { simultaneous: sim },
      });
      $('pj-create').disabled = false;
      if (r.status === 201) {
        fields.password.value = '';
        form.hidden = true;
        $('pj-id').textContent = r.data.id;
        $('pj-mailed').textContent = msg('pj.mailed', { addr: fields.notify.value.trim() });
        $('pj-open').href = '/project/login?id=' + encodeURIComponent(r.data.id);
        $('result').hidden = false;
        $('result').focus();
        return;
      }
      if (r.data && r.data.field) {
        const map = { name: 'pj-name', password: 'pj-password', notify: 'pj-notify', 'options.simultaneous': 'pj-simultaneous' };
        const id = map[r.data.field];
        if (id) { setErr(id, r.data.error); $(id).focus(); }
      }
      summary(apiText(r));
    });
  }

  // ---- log in ----------------------------------------------------------------------------
  function initLogin() {
    $('project-login').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      summary('');
      const id = $('pj-id-in').value.trim().toLowerCase();
      const pw = $('pj-password');
      if (!id || !pw.value) { summary(msg('err.required')); (id ? pw : $('pj-id-in')).focus(); return; }
      $('pj-login').disabled = true;
      const r = await api('POST', '/api/v1/projects/' + encodeURIComponent(id) + '/session', { password: pw.value });
      $('pj-login').disabled = false;
      pw.value = '';
      if (r.status === 200) { window.location.assign('/project/' + encodeURIComponent(id)); return; }
      summary(r.status === 401 ? msg('pj.badlogin') : apiText(r));
    });
  }

  // ---- dashboard -------------------------------------------------------------------------
  function initDashboard() {
    const root = $('project');
    const ID = root.dataset.id;
    CSRF = root.dataset.csrf;
    const base = '/api/v1/projects/' + encodeURIComponent(ID);
    let options = null;
    let timer = null;

    function gone(r) {
      if (r.status === 401) {
        window.location.assign('/project/login?id=' + encodeURIComponent(ID));
        return true;
      }
      return false;
    }

    function render(p) {
      const st = $('pj-state');
      st.textContent = p.paused ? msg('pj.paused') : msg('pj.active');
      st.dataset.status = p.paused ? 'paused' : 'running';
      $('pj-pause').disabled = p.paused;
      $('pj-resume').disabled = !p.paused;
      const done = p.migrations.filter((m) => m.status === 'done').length;
      $('pj-summary').textContent = msg('pj.summary', { done, total: p.migrations.length });
      const body = $('pj-rows');
      body.replaceChildren();
      if (!p.migrations.length) {
        const tr = el('tr');
        tr.append(el('td', { colSpan: 8 }, msg('pj.none')));
        body.append(tr);
      }
      p.migrations.forEach((m) => {
        const tr = el('tr');
        tr.dataset.id = m.id;
        tr.dataset.status = m.status;
        tr.append(el('td', {}, m.source));
        tr.append(el('td', {}, m.destination));
        const s = el('td');
        const badge = el('span', { className: 'status' }, statusText(m.status));
        badge.dataset.status = m.status;
        s.append(badge);
        if (m.error) s.append(el('div', { className: 'hint' }, errorText(m)));
        tr.append(s);
        const pc = el('td');
        const bar = el('progress', { max: 100 });
        if (m.percent !== null && m.percent !== undefined) {
          bar.value = m.percent;
          bar.textContent = Math.round(m.percent) + ' %';
        }
        bar.setAttribute('aria-label', m.source);
        pc.append(bar, el('span', {}, ' ' + (m.percent !== null && m.percent !== undefined ? Math.round(m.percent) + ' %' : '')));
        tr.append(pc);
        tr.append(el('td', { className: 'num' }, new Intl.NumberFormat(LANG).format(m.items)));
        tr.append(el('td', { className: 'num' }, String(m.failed)));
        const tk = el('td');
        tk.append(el('a', { href: '/track/' + encodeURIComponent(m.id) }, m.id.slice(0, 8) + '…'));
        tr.append(tk);
        const acts = el('td', { className: 'acts' });
        const waiting = ['queued', 'scheduled', 'paused', 'running'].includes(m.status);
        const stop = el('button', { type: 'button', disabled: !waiting }, msg('pj.stop'));
        stop.dataset.action = 'stop';
        stop.setAttribute('aria-label', msg('pj.stop') + ' ' + m.source);
        const sync = el('button', { type: 'button', disabled: waiting }, msg('pj.sync'));
        sync.dataset.action = 'sync';
        sync.setAttribute('aria-label', msg('pj.sync') + ' ' + m.source);
        acts.append(stop, sync);
        tr.append(acts);
        body.append(tr);
      });
    }

    function fillServers(o) {
      [['src', o.source], ['dst', o.destination]].forEach(([p, s]) => {
        if (!s) return;
        if (!$(p + '-host').value) {
          $(p + '-type').value = s.type;
          $(p + '-host').value = s.host;
          $(p + '-port').value = s.port || ({ imaps: 993, imap: 143, 'imap+starttls': 143, pop3s: 995 })[s.type] || 993;
        }
      });
    }

    async function refresh() {
      const r = await api('GET', base);
      if (gone(r)) return;
      if (r.status !== 200) { summary(apiText(r)); return; }
      summary('');
      if (!options) {
        const o = r.data.options;
        $('pj-simultaneous').value = o.simultaneous;
        $('pj-connections').value = o.connections;
        document.querySelectorAll('input[name=pj-content]').forEach((c) => { c.checked = o.content.includes(c.value); });
        $('pj-src-dav').value = o.source_dav || '';
        $('pj-dst-dav').value = o.destination_dav || '';
      }
      options = r.data.options;
      fillServers(options);
      render(r.data);
    }

    function poll() {
      refresh().finally(() => { timer = setTimeout(poll, 2500); });
    }

    $('pj-rows').addEventListener('click', async (ev) => {
      const b = ev.target.closest('button[data-action]');
      if (!b) return;
      const row = b.closest('tr');
      b.disabled = true;
      const r = await api('POST', base + '/migrations/' + encodeURIComponent(row.dataset.id) + '/' + b.dataset.action);
      if (!gone(r) && r.status !== 202) summary(apiText(r));
      refresh();
    });

    $('pj-pause').addEventListener('click', async () => {
      const r = await api('POST', base + '/pause');
      if (!gone(r) && r.status !== 200) summary(apiText(r));
      refresh();
    });
    $('pj-resume').addEventListener('click', async () => {
      const r = await api('POST', base + '/resume');
      if (!gone(r) && r.status !== 200) summary(apiText(r));
      refresh();
    });
    $('pj-logout').addEventListener('click', async () => {
      clearTimeout(timer);
      await api('DELETE', base + '/session');
      window.location.assign('/project/login?id=' + encodeURIComponent(ID));
    });

    // A side's server type: a provider preset fills in its host and port, and offers "Sign in
    // with …" (replacing the password) when this service is registered with that provider;
    // a plain server type has none.
    const signed = (p) => !$(p + '-signed').hidden;
    const syncs = {};
    ['src', 'dst'].forEach((p) => {
      const type = $(p + '-type');
      const sync = () => {
        const o = type.selectedOptions[0];
        const preset = (o && o.dataset.preset) || '';
        $(p + '-preset').value = preset;
        const wrap = $(p + '-oauth');
        let offered = false;
        if (wrap) {
          wrap.querySelectorAll('button').forEach((b) => {
            b.hidden = !preset || b.dataset.provider !== preset;
            if (!b.hidden) offered = true;
          });
          wrap.hidden = !offered || signed(p);
        }
        $(p + '-password-box').hidden = offered || signed(p);
      };
      syncs[p] = sync;
      type.addEventListener('change', () => {
        const o = type.selectedOptions[0];
        $(p + '-port').value = o.dataset.port || 993;
        if (o.dataset.host) $(p + '-host').value = o.dataset.host;
        sync();
      });
      sync();
      // A login at a provider's domain, no server given yet: that provider's preset.
      $(p + '-login').addEventListener('change', () => {
        const cur = type.selectedOptions[0];
        if ((cur && cur.dataset.preset) || $(p + '-host').value.trim()) return;
        const domain = ($(p + '-login').value.trim().split('@')[1] || '').toLowerCase();
        const o = Array.from(type.options).find((x) => domain && (x.dataset.domains || '').split(' ').includes(domain));
        if (!o) return;
        o.selected = true;
        type.dispatchEvent(new Event('change'));
      });
    });

    $('pj-add').addEventListener('submit', async (ev) => {
      // "Sign in with …" and "Sign out" go to the server as a plain form (never a password).
      if (ev.submitter && /^\/oauth\//.test(ev.submitter.getAttribute('formaction') || '')) return;
      ev.preventDefault();
      $('pj-add-result').textContent = '';
      $('err-pj-add').textContent = '';
      let bad = null;
      let signinMissing = false;
      ['src', 'dst'].forEach((p) => {
        ['host', 'login', 'password'].forEach((f) => {
          const id = p + '-' + f;
          if (f === 'password' && signed(p)) return;
          if (f === 'password' && $(p + '-password-box').hidden) {
            signinMissing = true;
            setErr(id, msg('err.signin'));
            if (!bad) bad = document.querySelector('#' + p + '-oauth button:not([hidden])');
            return;
          }
          const empty = !$(id).value.trim();
          setErr(id, empty ? msg('err.required') : '');
          if (empty && !bad) bad = $(id);
        });
      });
      // A port, when given, is a number the API can take (else it answered in serde's words).
      ['src', 'dst'].forEach((p) => {
        const v = $(p + '-port').value.trim();
        const n = Number(v);
        const wrong = v !== '' && !(Number.isInteger(n) && n >= 1 && n <= 65535);
        setErr(p + '-port', wrong ? msg('err.port') : '');
        if (wrong && !bad) bad = $(p + '-port');
      });
      if (bad) {
        $('err-pj-add').textContent = msg(signinMissing ? 'err.signin' : 'err.form');
        bad.focus();
        return;
      }
      const side = (p) => ({
        login: $(p + '-login').value.trim(),
        password: signed(p) ? '' : $(p + '-password').value,
        signed_in: signed(p),
        server: { type: $(p + '-type').value, host: $(p + '-host').value.trim(), port: parseInt($(p + '-port').value, 10) || null },
        admin: $(p + '-admin').value.trim() || null,
      });
      const s = side('src');
      const d = side('dst');
      $('pj-add-go').disabled = true;
      const r = await api('POST', base + '/migrations', {
        source_login: s.login, source_password: s.password, source_server: s.server, source_admin: s.admin,
        source_signed_in: s.signed_in,
        destination_login: d.login, destination_password: d.password, destination_server: d.server, destination_admin: d.admin,
        destination_signed_in: d.signed_in,
      });
      $('pj-add-go').disabled = false;
      if (gone(r)) return;
      if (r.status === 201) {
        ['src', 'dst'].forEach((p) => {
          ['login', 'password', 'admin'].forEach((f) => { if ($(p + '-' + f)) $(p + '-' + f).value = ''; });
          // The server took the sign-in for this account: the next one signs in again.
          if (signed(p)) {
            $(p + '-signed').hidden = true;
            syncs[p]();
          }
        });
        $('pj-add-result').textContent = msg('pj.added', { id: r.data.id });
        refresh();
        return;
      }
      const map = {
        source_server: 'src-host', destination_server: 'dst-host', source_password: 'src-password',
        destination_password: 'dst-password', source_login: 'src-login', destination_login: 'dst-login',
        source_signed_in: 'src-password', destination_signed_in: 'dst-password',
      };
      let f = r.data && r.data.field && map[r.data.field.split('.')[0]];
      if (f) {
        // The API's (English) words, said in the page's language for that field.
        const said = r.data.error || '';
        if (/_server$/.test(r.data.field.split('.')[0])) {
          if (/login/i.test(said)) f = f.replace('-host', '-login');
          else if (/port/i.test(said) && !/host/i.test(said)) f = f.replace('-host', '-port');
        }
        const kind = f.replace(/^(src|dst)-/, '');
        const key = /is required|is empty/i.test(said) ? 'err.required'
          : { host: 'err.host', port: 'err.port', login: 'err.login' }[kind];
        setErr(f, key ? msg(key) : msg('err.generic') + ' ' + said);
        $('err-pj-add').textContent = msg('err.form');
        $(f).focus();
        return;
      }
      $('pj-add-result').textContent = apiText(r);
    });

    async function bulk(dry) {
      const file = $('pj-file').files[0];
      const out = $('pj-bulk-result');
      const errs = $('pj-bulk-errors');
      errs.replaceChildren();
      if (!file) { out.textContent = msg('pj.nofile'); $('pj-file').focus(); return; }
      $('pj-preview').disabled = true;
      $('pj-bulk-create').disabled = true;
      const r = await api('POST', base + '/migrations/bulk' + (dry ? '?dry_run=true' : ''), undefined, file);
      $('pj-preview').disabled = false;
      $('pj-bulk-create').disabled = false;
      if (gone(r)) return;
      if (r.status !== 200) { out.textContent = apiText(r); return; }
      const d = r.data;
      out.textContent = dry
        ? msg('pj.preview', { valid: d.valid.length, rows: d.rows })
        : msg('pj.bulkdone', { created: d.created.length });
      d.errors.forEach((e) => {
        errs.append(el('li', {}, e.column
          ? msg('pj.rowerr', { row: e.row, column: e.column, message: e.message })
          : msg('pj.rowerr.nocol', { row: e.row, message: e.message })));
      });
      if (!dry) refresh();
    }
    $('pj-preview').addEventListener('click', () => bulk(true));
    $('pj-bulk').addEventListener('submit', (ev) => { ev.preventDefault(); bulk(false); });

    $('pj-options').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      $('pj-options-result').textContent = '';
      const sim = parseInt($('pj-simultaneous').value, 10);
      const con = parseInt($('pj-connections').value, 10);
      setErr('pj-simultaneous', sim >= 1 && sim <= 50 ? '' : '1–50');
      setErr('pj-connections', con >= 1 && con <= 16 ? '' : '1–16');
      const content = Array.from(document.querySelectorAll('input[name=pj-content]:checked')).map((c) => c.value);
      setErr('pj-content', content.length ? '' : msg('err.content'));
      ['pj-src-dav', 'pj-dst-dav'].forEach((id) => setErr(id, ''));
      if (!(sim >= 1 && sim <= 50) || !(con >= 1 && con <= 16) || !content.length) return;
      const body = Object.assign({}, options || {}, { simultaneous: sim, connections: con, content });
      const davs = { source_dav: $('pj-src-dav').value.trim(), destination_dav: $('pj-dst-dav').value.trim() };
      Object.keys(davs).forEach((k) => { if (davs[k]) body[k] = davs[k]; else delete body[k]; });
      const r = await api('PUT', base + '/options', body);
      if (gone(r)) return;
      const field = r.data && { 'options.source_dav': 'pj-src-dav', 'options.destination_dav': 'pj-dst-dav' }[r.data.field];
      if (field) { setErr(field, msg('err.dav')); $(field).focus(); return; }
      $('pj-options-result').textContent = r.status === 200 ? msg('pj.saved') : apiText(r);
      if (r.status === 200) options = r.data;
    });

    poll();
  }

  const page = document.body.dataset.page;
  if (page === 'project_new') initNew();
  if (page === 'project_login') initLogin();
  if (page === 'project') initDashboard();
})();
