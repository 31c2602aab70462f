// Rampart dashboard: vanilla JS, no external assets. All data comes from the
// REST API with the operator's bearer token; the API enforces the role
// limits, this page only reflects them (403 -> "not permitted for your role").
// Text from the API is always inserted with textContent, never as HTML.
'use strict';
(function () {
  const TOKEN_KEY = 'rampart.token';
  const $ = (sel) => document.querySelector(sel);
  const tid = (id) => document.querySelector(`[data-testid="${id}"]`);
  let current = 'cluster';
  let canRevoke = null; // unknown until we learn the role
  let auditBefore = null;

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  async function api(path, opts) {
    const o = opts || {};
    const headers = { Authorization: `Bearer ${token()}`, Accept: 'application/json' };
    if (o.json !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(path, { method: o.method || 'GET', headers, body: o.json !== undefined ? JSON.stringify(o.json) : undefined, credentials: 'omit', cache: 'no-store' });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (r.status === 401) { logout('Your token is invalid, expired or revoked. Log in again.'); throw new ApiError(401, 'unauthorized'); }
    if (!r.ok) throw new ApiError(r.status, (body && (body.detail || body.title)) || `HTTP ${r.status}`);
    return body;
  }

  function el(tag, text, attrs) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  }
  function row(cells, attrs) {
    const tr = el('tr', null, attrs);
    for (const c of cells) {
      const td = el('td');
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? '—' : String(c);
      tr.appendChild(td);
    }
    return tr;
  }
  function fillDl(dl, pairs) {
    dl.replaceChildren();
    for (const [k, v] of pairs) {
      dl.appendChild(el('dt', k));
      dl.appendChild(el('dd', v === null || v === undefined || v === '' ? '—' : v, { 'data-testid': `dd-${k.toLowerCase().replace(/[^a-z0-9]+/g, '-')}` }));
    }
  }
  function msg(section, text, cls) {
    const m = tid(`${section}-msg`);
    m.textContent = text || '';
    m.className = `msg ${cls || ''}`;
  }
  function handle(section, e) {
    if (e instanceof ApiError && e.status === 403) { msg(section, 'not permitted for your role', 'denied'); return true; }
    if (e instanceof ApiError && e.status === 401) return true;
    msg(section, `error: ${e.message}`, 'error');
    return false;
  }
  const when = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');
  function dur(s) {
    if (s === null || s === undefined) return '—';
    if (s < 120) return `${Math.round(s * 10) / 10} s`;
    if (s < 7200) return `${Math.round(s / 6) / 10} min`;
    if (s < 172800) return `${Math.round(s / 360) / 10} h`;
    return `${Math.round(s / 8640) / 10} d`;
  }
  const vs = (measured, target, met) => `${dur(measured)} / ${target === null || target === undefined ? '—' : dur(target)}${met === true ? ' ✓' : met === false ? ' ✗ missed' : ''}`;
  const bytes = (n) => (n === null || n === undefined ? '—' : n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);

  // ---------------------------------------------------------------- sections
  async function loadCluster() {
    msg('cluster', 'loading…');
    const tbody = tid('cluster-nodes').querySelector('tbody');
    try {
      const [c, st] = await Promise.all([api('/api/v1/cluster'), api('/api/v1/status').catch(() => null)]);
      msg('cluster', '');
      let nodes = c.nodes;
      if (!nodes.length && st) {
        // A single node does not register in a node table: show this node from its own status.
        nodes = [{ id: st.cluster.nodeId, leader: st.cluster.leader, up: true, health: st.health ? st.health.status : 'unknown', writable: st.cluster.writable, lastSeen: new Date().toISOString() }];
      }
      const leader = c.leader ? `${c.leader.holder} (epoch ${c.leader.epoch})` : c.mode === 'single' && st ? `${st.cluster.nodeId} (single node)` : 'none';
      fillDl($('#cluster-summary'), [['Mode', c.mode], ['This node', c.self], ['Leader', leader], ['Nodes', String(nodes.length)],
        ['Health', st && st.health ? st.health.status : null], ['Writable', st ? (st.cluster.writable ? 'yes' : 'no') : null], ['Database', st ? st.database : null],
        // Corruption detection: a node whose check found damage stops issuing (validation keeps serving).
        ['Issuing', st && st.issuing !== undefined ? (st.issuing ? 'yes' : 'NO (database corruption)') : null],
        ['Integrity', st && st.health && st.health.checks.integrity ? `${st.health.checks.integrity.status}: ${st.health.checks.integrity.detail}` : null]]);
      tbody.replaceChildren(...nodes.map((n) => row([
        n.id, n.leader ? '★' : '', n.up ? 'up' : 'down', n.health, n.writable ? 'yes' : 'no', when(n.lastSeen),
      ], { 'data-testid': 'cluster-node', 'data-node': n.id, class: n.up ? '' : 'down' })));
      const r = c.region;
      if (r) {
        fillDl($('#cluster-region'), [['Region', r.region], ['Role', r.dbRole], ['Active region', r.activeRegion], ['Epoch', r.epoch],
          ['Writable', r.writable ? 'yes' : 'no'], ['Lag seconds', r.lagSeconds === null ? null : String(r.lagSeconds)], ['Lag bytes', r.lagBytes === null ? null : bytes(r.lagBytes)],
          ['Checked', when(r.checkedAt)], ['Reason', r.reason], ['Error', r.error]]);
      } else {
        fillDl($('#cluster-region'), [['Region', 'single region (not configured)']]);
      }
    } catch (e) { tbody.replaceChildren(); handle('cluster', e); }
  }

  async function loadBackups() {
    msg('backups', 'loading…');
    try {
      const b = await api('/api/v1/backups');
      msg('backups', b.last ? '' : 'no backup recorded yet');
      fillDl($('#backups-summary'), [
        ['Last backup', b.last ? b.last.id : null], ['Taken', b.last ? when(b.last.time) : null], ['Age', b.last ? dur(b.last.ageSeconds) : null],
        ['Size', b.last ? bytes(b.last.sizeBytes) : null], ['Duration', b.last ? dur(b.last.durationSeconds) : null],
        ['Last attempt', b.lastAttempt ? `${when(b.lastAttempt.time)} ${b.lastAttempt.outcome}` : null],
        ['Last verify', b.lastVerify ? `${when(b.lastVerify.time)} ${b.lastVerify.outcome} (${b.lastVerify.target}, ${dur(b.lastVerify.ageSeconds)} ago)` : 'never'],
      ]);
    } catch (e) { $('#backups-summary').replaceChildren(); handle('backups', e); }
  }

  async function loadDrills() {
    msg('drills', 'loading…');
    const tbody = tid('drills-table').querySelector('tbody');
    try {
      const d = await api('/api/v1/drills');
      msg('drills', d.items.length ? '' : 'no drill has been run yet (`rampart drill run SCENARIO`)');
      tbody.replaceChildren(...d.items.map((r) => row([
        r.scenario, when(r.finishedAt), r.outcome + (r.error ? `: ${r.error}` : ''),
        vs(r.rtoSeconds, r.rtoTargetSeconds, r.rtoMet), vs(r.rpoSeconds, r.rpoTargetSeconds, r.rpoMet), r.tier,
      ], { 'data-testid': 'drill-row', 'data-scenario': r.scenario, 'data-outcome': r.outcome, class: r.outcome })));
    } catch (e) { tbody.replaceChildren(); handle('drills', e); }
    await loadCampaign();
  }

  // The re-issuance campaign after `rampart pki rebuild` (GET /api/v1/campaign; 404: none).
  async function loadCampaign() {
    const bar = $('#campaign-progress');
    try {
      const c = await api('/api/v1/campaign');
      msg('campaign', '');
      bar.hidden = false;
      bar.value = c.total ? c.reissued / c.total : 1;
      const ch = Object.entries(c.byChannel).filter(([, x]) => x.total).map(([k, x]) => `${k} ${x.replaced}/${x.total}`).join(', ');
      fillDl($('#campaign-summary'), [
        ['Campaign', `${c.id} (${c.kind}, ${c.state})`], ['Re-issued', `${c.reissued} of ${c.total} (${c.percentDone} %)`], ['Outstanding', String(c.outstanding)],
        ['By channel', ch], ['Started', when(c.startedAt)], ['Deadline', c.deadline ? when(c.deadline) + (c.deadlinePassed ? ' (passed)' : '') : 'none'],
        ['Finished', c.finishNote ? `${when(c.finishedAt)}: ${c.finishNote}` : null],
      ]);
    } catch (e) {
      bar.hidden = true;
      $('#campaign-summary').replaceChildren();
      if (e instanceof ApiError && e.status === 404) msg('campaign', 'no re-issuance campaign (`rampart pki rebuild` starts one)');
      else handle('campaign', e);
    }
  }

  // ------------------------------------------------------------------ charts
  // uPlot (served by the node from the uplot npm package) draws the node's metric history
  // (GET /api/v1/metrics/history) and the drill RTOs against their targets (GET /api/v1/drills).
  const charts = {};
  const COLORS = ['#1f5fbf', '#b3261e', '#1e7b34', '#8a5a00'];
  function drawChart(name, x, series, opts) {
    const box = document.querySelector(`[data-chart="${name}"]`);
    if (charts[name]) { charts[name].destroy(); delete charts[name]; }
    box.replaceChildren();
    const points = series.reduce((n, s) => n + s.values.filter((v) => v !== null && v !== undefined).length, 0);
    box.setAttribute('data-points', String(points));
    box.setAttribute('data-max', String(series.reduce((m, s) => s.values.reduce((a, v) => (typeof v === 'number' && v > a ? v : a), m), 0)));
    if (!x.length || !points) { box.appendChild(el('p', (opts && opts.empty) || 'no data yet', { class: 'empty' })); return; }
    const o = {
      width: Math.max(300, box.clientWidth || 540), height: 200,
      // One point (a single drill) still gets a readable time axis: an hour either side.
      scales: Object.assign({ x: x[0] === x[x.length - 1] ? { time: true, auto: false, range: [x[0] - 3600, x[0] + 3600] } : { time: true } }, (opts && opts.scales) || {}),
      series: [{}].concat(series.map((s, i) => Object.assign({ label: s.label, stroke: s.color || COLORS[i % COLORS.length], width: 2, spanGaps: false }, s.opts || {}))),
      axes: [{}, { size: 60 }],
    };
    charts[name] = new uPlot(o, [x].concat(series.map((s) => s.values)), box);
  }
  const round2 = (v) => (v === null || v === undefined ? null : Math.round(v * 100) / 100);
  async function loadCharts() {
    msg('charts', 'loading…');
    try {
      const [h, d] = await Promise.all([api('/api/v1/metrics/history'), api('/api/v1/drills').catch(() => null)]);
      const span = dur(h.sampleSeconds * h.points);
      msg('charts', `${h.t.length} sample(s), one every ${h.sampleSeconds} s, last ${span} kept in memory on this node`);
      drawChart('issuance', h.t, [{ label: 'issued/s', values: h.issuancePerSecond.map(round2) }]);
      drawChart('ocsp', h.t, [{ label: 'OCSP/s', values: h.ocspPerSecond.map(round2) }]);
      drawChart('ocsp-p99', h.t, [{ label: 'p99 ms', values: h.ocspP99Ms.map(round2) }], { empty: 'no OCSP request in the window' });
      drawChart('lag', h.t, [{ label: 'lag s', values: h.replicationLagSeconds }], { empty: 'no replication lag: this node is not in a replica region' });
      const av = h.availability || {};
      drawChart('budget', h.t, [
        { label: `validation (${av.validation === null ? '—' : av.validation} %)`, values: h.errorBudgetRemaining.validation },
        { label: `issuance (${av.issuance === null ? '—' : av.issuance} %)`, values: h.errorBudgetRemaining.issuance },
      ], { scales: { y: { range: (u, min) => [Math.min(0, min), 100] } } });
      const runs = d ? d.items.filter((r) => r.rtoSeconds !== null && r.rtoSeconds !== undefined).slice().sort((a, b) => a.finishedAt.localeCompare(b.finishedAt)) : [];
      drawChart('rto', runs.map((r) => Math.round(Date.parse(r.finishedAt) / 1000)), [
        { label: 'measured RTO s', values: runs.map((r) => round2(r.rtoSeconds)), opts: { paths: () => null, points: { show: true, size: 8 } } },
        { label: 'target s', values: runs.map((r) => r.rtoTargetSeconds || null), opts: { dash: [6, 4] } },
      ], { empty: d ? 'no drill with a measured RTO yet (`rampart drill run SCENARIO`)' : 'drill history not permitted for your role' });
    } catch (e) { handle('charts', e); }
  }
  setInterval(() => { if (current === 'charts' && token() && !$('#app').hidden) loadCharts(); }, 15000);

  // Loads can overlap (opening the tab, then a search): only the newest one renders.
  let certLoad = 0;
  async function loadCertificates() {
    const mine = ++certLoad;
    msg('certificates', 'loading…');
    const table = tid('cert-table');
    const tbody = table.querySelector('tbody');
    const q = new URLSearchParams({ limit: '100' });
    const name = $('#cert-name').value.trim();
    if (name) q.set('name', name);
    if ($('#cert-expiring').checked) { q.set('expiringWithinDays', '30'); q.set('status', 'good'); }
    try {
      const page = await api(`/api/v1/certificates?${q}`);
      if (mine !== certLoad) return;
      table.dataset.query = q.toString();
      msg('certificates', `${page.total}${page.totalCapped ? '+' : ''} certificate(s)${page.items.length < page.total ? `, first ${page.items.length} shown` : ''}`);
      tbody.replaceChildren(...page.items.map(certRow));
    } catch (e) { if (mine !== certLoad) return; tbody.replaceChildren(); handle('certificates', e); }
  }

  function certRow(c) {
    const action = el('span');
    if (c.status === 'good' && canRevoke !== false) {
      const b = el('button', 'Revoke', { type: 'button', class: 'danger', 'data-testid': 'revoke-button', 'data-serial': c.serial });
      b.addEventListener('click', () => openRevoke(c));
      action.appendChild(b);
    }
    const status = el('span', c.status, { 'data-testid': 'cert-status', class: `status ${c.status}` });
    return row([el('code', c.serial), c.subject, (c.sans || []).join(', '), c.profile, when(c.notAfter), status, action],
      { 'data-testid': 'cert-row', 'data-serial': c.serial });
  }

  let revoking = null;
  function openRevoke(c) {
    revoking = c;
    $('#revoke-serial').textContent = c.serial;
    $('#revoke-subject').textContent = c.subject;
    $('#revoke-reason').value = 'unspecified';
    $('#revoke-error').textContent = '';
    $('#revoke-confirm').disabled = false;
    $('#revoke-dialog').hidden = false;
    $('#revoke-cancel').focus();
  }
  function closeRevoke() { revoking = null; $('#revoke-dialog').hidden = true; }
  async function confirmRevoke() {
    if (!revoking) return;
    const c = revoking;
    $('#revoke-confirm').disabled = true;
    try {
      const r = await api(`/api/v1/certificates/${encodeURIComponent(c.serial)}/revoke`, { method: 'POST', json: { reason: $('#revoke-reason').value } });
      closeRevoke();
      const tr = document.querySelector(`tr[data-testid="cert-row"][data-serial="${CSS.escape(c.serial)}"]`);
      if (tr) tr.replaceWith(certRow(Object.assign({}, c, r && r.status ? r : { status: 'revoked' })));
      msg('certificates', `revoked ${c.serial}`, 'ok');
    } catch (e) {
      $('#revoke-confirm').disabled = false;
      if (e instanceof ApiError && e.status === 403) { canRevoke = false; closeRevoke(); msg('certificates', 'not permitted for your role', 'denied'); loadCertificates(); return; }
      $('#revoke-error').textContent = e.message;
    }
  }

  async function loadAudit(more) {
    msg('audit', 'loading…');
    const tbody = tid('audit-table').querySelector('tbody');
    if (!more) auditBefore = null;
    const q = new URLSearchParams({ limit: '50' });
    if (more && auditBefore) q.set('before', String(auditBefore));
    try {
      const [page, chain] = await Promise.all([api(`/api/v1/audit?${q}`), more ? Promise.resolve(null) : api('/api/v1/audit/verify')]);
      msg('audit', '');
      if (chain) {
        const c = tid('audit-chain');
        c.textContent = chain.ok ? `Chain OK: ${chain.entries} entries, head ${String(chain.headHash).slice(0, 16)}…`
          : `Chain BROKEN at #${chain.problem ? chain.problem.seq : '?'}: ${chain.problem ? chain.problem.reason : 'unknown'}`;
        c.className = chain.ok ? 'ok' : 'error';
        c.setAttribute('data-chain', chain.ok ? 'ok' : 'broken');
      }
      const rows = page.items.map((e) => row([e.seq, when(e.time), e.actor, e.action, e.target, e.outcome], { 'data-testid': 'audit-row', 'data-action': e.action, class: e.outcome }));
      if (more) tbody.append(...rows); else tbody.replaceChildren(...rows);
      auditBefore = page.nextBefore;
      $('#audit-more').hidden = !auditBefore;
    } catch (e) { if (!more) { tbody.replaceChildren(); tid('audit-chain').textContent = ''; } handle('audit', e); }
  }

  const loaders = { cluster: loadCluster, charts: loadCharts, backups: loadBackups, drills: loadDrills, certificates: loadCertificates, audit: () => loadAudit(false) };

  function show(tab) {
    current = tab;
    for (const b of document.querySelectorAll('nav [data-tab]')) b.classList.toggle('active', b.getAttribute('data-tab') === tab);
    for (const p of document.querySelectorAll('.panel')) p.hidden = p.id !== `panel-${tab}`;
    loaders[tab]();
  }

  // The role and its permissions come from GET /api/v1/whoami; the API still checks every action.
  let who = null;
  async function loadWhoami() {
    who = await api('/api/v1/whoami');
    canRevoke = Array.isArray(who.permissions) && who.permissions.includes('cert.revoke');
  }

  async function login(t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    $('#login-error').textContent = '';
    try {
      await loadWhoami();
    } catch (e) {
      $('#login-error').textContent = e instanceof ApiError && e.status === 401 ? 'login failed: the token is invalid, expired or revoked' : `login failed: ${e.message}`;
      return;
    }
    $('#login').hidden = true;
    $('#app').hidden = false;
    $('#logout').hidden = false;
    $('#who').textContent = `${who.actor} (${who.role})`;
    document.body.setAttribute('data-can-revoke', canRevoke ? 'yes' : 'no');
    show('cluster');
  }

  function logout(reason) {
    sessionStorage.removeItem(TOKEN_KEY);
    canRevoke = null;
    closeRevoke();
    $('#app').hidden = true;
    $('#logout').hidden = true;
    $('#who').textContent = '';
    $('#login').hidden = false;
    $('#token').value = '';
    $('#login-error').textContent = reason || '';
    for (const t of document.querySelectorAll('tbody')) t.replaceChildren();
    for (const k of Object.keys(charts)) { charts[k].destroy(); delete charts[k]; }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('#login-form').addEventListener('submit', (ev) => { ev.preventDefault(); const t = $('#token').value.trim(); if (t) login(t); });
    $('#logout').addEventListener('click', () => logout(''));
    for (const b of document.querySelectorAll('nav [data-tab]')) b.addEventListener('click', () => show(b.getAttribute('data-tab')));
    for (const b of document.querySelectorAll('[data-refresh]')) b.addEventListener('click', () => loaders[b.getAttribute('data-refresh')]());
    $('#cert-search').addEventListener('submit', (ev) => { ev.preventDefault(); loadCertificates(); });
    $('#cert-expiring').addEventListener('change', () => loadCertificates());
    $('#audit-more').addEventListener('click', () => loadAudit(true));
    $('#revoke-cancel').addEventListener('click', closeRevoke);
    $('#revoke-confirm').addEventListener('click', confirmRevoke);
    document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !$('#revoke-dialog').hidden) closeRevoke(); });
    const t = token();
    if (t) login(t);
  });
})();
