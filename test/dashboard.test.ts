/**
 * The web dashboard end to end: a real node, a real DR drill and backup made
 * with the CLI against it, and the page driven in headless Chromium (Debian
 * package) with playwright-core: log in, cluster view, find a certificate,
 * revoke it through the confirmation dialog, drill history, audit log and
 * chain status; the charts (uPlot, served by the node) after issuance and
 * OCSP traffic, from the node's metric history sampled every second here;
 * then an auditor token, which sees no revoke button. Every
 * request the page makes must stay on the node's origin. Screenshots go to
 * test-artifacts/dashboard/.
 *
 * The browser context uses ignoreHTTPSErrors: the node's HTTPS certificate
 * chains to its own freshly made root, and the page is only ever loaded
 * from 127.0.0.1 in this test.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { call, type ApiResponse } from './helpers/api-client.js';
import { launchChromium } from './helpers/chromium.js';
import { RAMPART_BIN, removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';

const ARTIFACTS = resolve(import.meta.dirname, '..', 'test-artifacts', 'dashboard');

function rampart(dataDir: string, args: string[], timeoutMs = 180_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], { env: { ...process.env, RAMPART_LOG__LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => { clearTimeout(t); res({ code, stdout, stderr }); });
  });
}

describe('web dashboard in headless Chromium', { timeout: 300_000 }, () => {
  let node: NodeProcess;
  let ca: string;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let csrDir: string;
  const serials = new Map<string, string>();
  const requests: string[] = [];
  let auditorToken: string;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    node = await startNode({ env: { RAMPART_DASHBOARD__HISTORY_SAMPLE_SECONDS: '1' } });
    assert.ok(node.adminToken, 'admin token printed');
    ca = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
    csrDir = tempDir('rampart-dashboard-csr-');
    for (const name of ['shop.dashboard.test', 'mail.dashboard.test']) {
      const csr = readFileSync(makeCsr(csrDir, name, { subj: `/CN=${name}`, san: `DNS:${name}` }).csrPath, 'utf8');
      const r: ApiResponse = await call(`${node.httpsUrl}/api/v1/certificates`, { token: node.adminToken!, ca, json: { csr, profile: 'server', validityDays: name.startsWith('shop') ? 10 : 90 } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      serials.set(name, r.body.serial);
      writeFileSync(join(csrDir, `${name}.pem`), r.body.certificatePem);
      writeFileSync(join(csrDir, `${name}.chain.pem`), r.body.chainPem);
    }
    const t = await call(`${node.httpsUrl}/api/v1/tokens`, { token: node.adminToken!, ca, json: { name: 'dashboard-auditor', role: 'auditor' } });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    auditorToken = t.body.token;
    // A real backup and a real DR drill (restore-latest, ~20 s), recorded by the CLI in the
    // node's data directory and database as an operator would.
    const backup = await rampart(node.dataDir, ['--json', 'backup', 'create']);
    assert.equal(backup.code, 0, backup.stderr);
    const drill = await rampart(node.dataDir, ['--json', 'drill', 'run', 'restore-latest']);
    assert.equal(drill.code, 0, `${drill.stderr}\n${drill.stdout.slice(0, 2000)}`);
    browser = await launchChromium();
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    context.on('request', (rq) => { requests.push(rq.url()); });
  });
  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await node?.stop();
    if (node) removeDir(node.dataDir);
    if (csrDir) removeDir(csrDir);
  });

  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  async function login(page: Page, token: string): Promise<void> {
    await page.goto(`${node.httpsUrl}/dashboard`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/', 'redirected to /dashboard/');
    await page.getByTestId('login-token').fill(token);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('app').waitFor({ state: 'visible' });
  }

  it('serves the page with a strict Content-Security-Policy', async () => {
    for (const p of ['/dashboard/', '/dashboard/app.js', '/dashboard/app.css', '/dashboard/vendor/uPlot.iife.min.js', '/dashboard/vendor/uPlot.min.css']) {
      const r = await call(`${node.httpsUrl}${p}`, { ca });
      assert.equal(r.status, 200, p);
      assert.match(String(r.headers['content-security-policy']), /^default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'$/);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['cache-control'], 'no-store');
    }
    const html = String((await call(`${node.httpsUrl}/dashboard/`, { ca })).body);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'no asset from outside the node');
  });

  it('admin: cluster, find and revoke a certificate, drills, backups, audit', async () => {
    const page = await context!.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(`${node.httpsUrl}/dashboard/`);
    await shot(page, '01-login');
    await login(page, node.adminToken!);

    // Cluster: this node, up, leader star.
    const nodeRow = page.getByTestId('cluster-node').first();
    await nodeRow.waitFor();
    assert.match(await nodeRow.innerText(), /up/);
    assert.match(await nodeRow.innerText(), /★/);
    await shot(page, '02-cluster');

    // Certificates: search by name, revoke through the dialog.
    await page.getByTestId('tab-certificates').click();
    await page.getByTestId('cert-search-input').fill('shop.dashboard');
    await page.getByTestId('cert-search-submit').click();
    // Opening the tab loaded the whole list; wait for the search's own result to be the one drawn.
    await page.locator('table[data-testid="cert-table"][data-query="limit=100&name=shop.dashboard"]').waitFor();
    const serial = serials.get('shop.dashboard.test')!;
    const row = page.locator(`tr[data-testid="cert-row"][data-serial="${serial}"]`);
    await row.waitFor();
    assert.equal(await page.getByTestId('cert-row').count(), 1, 'the search finds exactly the one certificate');
    // The other one is found too, and "expiring within 30 days" keeps only the 10-day one.
    await page.getByTestId('cert-search-input').fill('dashboard.test');
    await page.getByTestId('cert-search-submit').click();
    await page.locator(`tr[data-testid="cert-row"][data-serial="${serials.get('mail.dashboard.test')}"]`).waitFor();
    await page.getByTestId('cert-expiring').check();
    await page.locator('table[data-testid="cert-table"][data-query*="expiringWithinDays=30"]').waitFor();
    await page.locator(`tr[data-testid="cert-row"][data-serial="${serials.get('mail.dashboard.test')}"]`).waitFor({ state: 'detached' });
    assert.equal(await row.count(), 1);
    await row.getByTestId('revoke-button').click();
    const dialog = page.getByTestId('revoke-dialog');
    await dialog.waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('revoke-serial').innerText(), serial);
    assert.match(await page.getByTestId('revoke-subject').innerText(), /shop\.dashboard\.test/);
    // Cancel first: nothing happens.
    await page.getByTestId('revoke-cancel').click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates/${serial}`, { token: node.adminToken!, ca })).body.status, 'good');
    await row.getByTestId('revoke-button').click();
    await page.getByTestId('revoke-reason').selectOption('keyCompromise');
    await shot(page, '03-revoke-dialog');
    await page.getByTestId('revoke-confirm').click();
    await dialog.waitFor({ state: 'hidden' });
    await row.getByTestId('cert-status').filter({ hasText: 'revoked' }).waitFor();
    assert.equal(await row.getByTestId('revoke-button').count(), 0, 'no revoke button on a revoked certificate');
    await shot(page, '04-revoked');
    const rest = await call(`${node.httpsUrl}/api/v1/certificates/${serial}`, { token: node.adminToken!, ca });
    assert.equal(rest.body.status, 'revoked', JSON.stringify(rest.body));
    assert.equal(rest.body.revocationReason, 'keyCompromise');

    // Drills: the restore-latest run with RTO/RPO against its tier.
    await page.getByTestId('tab-drills').click();
    const drill = page.locator('tr[data-testid="drill-row"][data-scenario="restore-latest"]');
    await drill.waitFor();
    const drillText = await drill.innerText();
    assert.match(drillText, /passed/);
    assert.match(drillText, /\d+(\.\d+)? s \/ 60 min ✓\s+\d+(\.\d+)? s \/ 25 h ✓/, drillText);
    await shot(page, '05-drills');

    // Backups: the backup just made, never verified.
    await page.getByTestId('tab-backups').click();
    await page.getByTestId('dd-last-backup').filter({ hasText: /\S{3,}/ }).waitFor();
    assert.match(await page.getByTestId('dd-size').innerText(), /(B|KiB|MiB)$/);
    await shot(page, '06-backups');

    // Audit: newest first, the revocation among them, chain OK.
    await page.getByTestId('tab-audit').click();
    await page.locator('[data-testid="audit-chain"][data-chain="ok"]').waitFor();
    assert.match(await page.getByTestId('audit-chain').innerText(), /^Chain OK: \d+ entries/);
    const revokeEntry = page.locator('tr[data-testid="audit-row"][data-action="certificate.revoke"]').filter({ hasText: `serial:${serial}` });
    await revokeEntry.first().waitFor();
    assert.match(await revokeEntry.first().innerText(), /success/);
    const seqs = await page.locator('tr[data-testid="audit-row"] td:first-child').allInnerTexts();
    assert.ok(seqs.length > 3);
    assert.deepEqual(seqs.map(Number), [...seqs.map(Number)].sort((a, b) => b - a), 'newest first');
    await shot(page, '07-audit');
    assert.deepEqual(consoleErrors.filter((e) => !/status of 40[34]/.test(e)), [], 'no script or CSP errors');
    await page.getByTestId('logout').click();
    await page.getByTestId('login').waitFor({ state: 'visible' });
    await page.close();
  });

  it('charts: issuance, OCSP rate and p99, error budget and drill RTO drawn from the node\'s metric history', async () => {
    const vendored = await call(`${node.httpsUrl}/dashboard/vendor/uPlot.iife.min.js`, { ca });
    assert.equal(String(vendored.body), readFileSync(resolve(import.meta.dirname, '..', 'node_modules', 'uplot', 'dist', 'uPlot.iife.min.js'), 'utf8'), 'uPlot as installed from npm');
    // Traffic: a few issuances and OCSP requests (POST) for the mail certificate.
    const name = 'mail.dashboard.test';
    mustOpenssl(['ocsp', '-issuer', join(csrDir, `${name}.chain.pem`), '-cert', join(csrDir, `${name}.pem`), '-no_nonce', '-reqout', join(csrDir, 'req.der')]);
    const der = readFileSync(join(csrDir, 'req.der'));
    for (let i = 0; i < 3; i++) {
      const n = `chart${i}.dashboard.test`;
      const csr = readFileSync(makeCsr(csrDir, n, { subj: `/CN=${n}`, san: `DNS:${n}` }).csrPath, 'utf8');
      assert.equal((await call(`${node.httpsUrl}/api/v1/certificates`, { token: node.adminToken!, ca, json: { csr, profile: 'server' } })).status, 201);
    }
    for (let i = 0; i < 60; i++) {
      const r = await call(`${node.httpUrl}/ocsp`, { method: 'POST', body: der, headers: { 'content-type': 'application/ocsp-request' } });
      assert.equal(r.status, 200);
    }
    // The history holds them once the next samples are taken (one a second in this test).
    const max = (xs: Array<number | null>) => Math.max(0, ...xs.filter((x): x is number => x !== null));
    let h: any;
    for (let i = 0; i < 60; i++) {
      h = (await call(`${node.httpsUrl}/api/v1/metrics/history`, { token: node.adminToken!, ca })).body;
      if (max(h.issuancePerSecond) > 0 && max(h.ocspPerSecond) > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(max(h.issuancePerSecond) > 0 && max(h.ocspPerSecond) > 0, JSON.stringify(h));
    assert.ok(max(h.ocspP99Ms) > 0, 'an OCSP p99 latency was measured');
    assert.equal(h.sampleSeconds, 1);
    assert.deepEqual(h.availability, { validation: 99.95, issuance: 99.9 });
    assert.ok(h.errorBudgetRemaining.validation.every((v: number) => v === 100), 'no 5xx: the whole budget is left');
    assert.ok(h.replicationLagSeconds.every((v: unknown) => v === null), 'a single node has no replication lag');
    // An auditor token may read it (status.read); no token may not.
    assert.equal((await call(`${node.httpsUrl}/api/v1/metrics/history`, { token: auditorToken, ca })).status, 200);
    assert.equal((await call(`${node.httpsUrl}/api/v1/metrics/history`, { ca })).status, 401);

    const page = await context!.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await login(page, node.adminToken!);
    await page.getByTestId('tab-charts').click();
    for (const chart of ['issuance', 'ocsp', 'ocsp-p99', 'budget', 'rto']) {
      const box = page.getByTestId(`chart-${chart}`);
      await box.locator('canvas').waitFor();
      assert.ok(Number(await box.getAttribute('data-points')) > 0, `${chart}: a non-empty series`);
    }
    assert.ok(Number(await page.getByTestId('chart-issuance').getAttribute('data-max')) > 0, 'issuance drawn above zero');
    assert.ok(Number(await page.getByTestId('chart-ocsp').getAttribute('data-max')) > 0, 'OCSP drawn above zero');
    // The drill of before(): its RTO (one point) against the backup tier's 60 min target.
    assert.equal(Number(await page.getByTestId('chart-rto').getAttribute('data-max')), 3600);
    // A replica-less node says so instead of drawing an empty chart.
    assert.match(await page.getByTestId('chart-lag').innerText(), /not in a replica region/);
    // The canvas has pixels drawn (not a blank element).
    const drawn = await page.getByTestId('chart-ocsp').locator('canvas').evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
      return n;
    });
    assert.ok(drawn > 100, `${drawn} pixels drawn`);
    await shot(page, '11-charts');
    assert.deepEqual(consoleErrors, [], 'no script or CSP errors');
    await page.close();
  });

  it('auditor: no revoke button, the audit view works', async () => {
    const page = await context!.newPage();
    await login(page, auditorToken);
    await page.getByTestId('tab-certificates').click();
    await page.getByTestId('cert-search-input').fill('dashboard.test');
    await page.getByTestId('cert-search-submit').click();
    await page.locator(`tr[data-testid="cert-row"][data-serial="${serials.get('mail.dashboard.test')}"]`).waitFor();
    assert.equal(await page.getByTestId('revoke-button').count(), 0, 'an auditor sees no revoke button');
    await shot(page, '08-auditor-certificates');
    await page.getByTestId('tab-audit').click();
    await page.locator('[data-testid="audit-chain"][data-chain="ok"]').waitFor();
    await page.getByTestId('audit-row').first().waitFor();
    await shot(page, '09-auditor-audit');
    await page.close();
  });

  it('issuer: the audit section says it is not permitted (the API answers 403)', async () => {
    const t = await call(`${node.httpsUrl}/api/v1/tokens`, { token: node.adminToken!, ca, json: { name: 'dashboard-issuer', role: 'issuer' } });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const page = await context!.newPage();
    await login(page, t.body.token);
    await page.getByTestId('tab-audit').click();
    await page.getByTestId('audit-msg').filter({ hasText: 'not permitted for your role' }).waitFor();
    assert.equal(await page.getByTestId('audit-row').count(), 0);
    await page.getByTestId('tab-certificates').click();
    await page.getByTestId('cert-row').first().waitFor();
    assert.equal(await page.getByTestId('revoke-button').count(), 0, 'an issuer may not revoke');
    await shot(page, '10-issuer-audit-denied');
    await page.close();
  });

  it('an invalid token is refused at login', async () => {
    const page = await context!.newPage();
    await page.goto(`${node.httpsUrl}/dashboard/`);
    await page.getByTestId('login-token').fill(`rmp_000000000000_${'A'.repeat(32)}`);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').filter({ hasText: /invalid/ }).waitFor();
    assert.equal(await page.getByTestId('app').isVisible(), false);
    await page.close();
  });

  it('no request left the node', () => {
    assert.ok(requests.length > 10, `${requests.length} requests`);
    const origin = new URL(node.httpsUrl).origin;
    const away = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'));
    assert.deepEqual(away, []);
  });
});
