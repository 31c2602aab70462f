/**
 * The container image (deploy/container): built here with podman from Debian
 * packages only (deploy/container/build.sh; the base image is made by
 * mmdebstrap once and reused by later runs), then run the way the runbook
 * says: non-root, --read-only with a named volume for the data directory,
 * configured by RAMPART_* environment variables, ports published on
 * 127.0.0.1 only. Certificates are issued over REST and checked with the real
 * openssl OCSP client against the running container; a second container on
 * the same volume still knows them. Everything started is removed by its ID;
 * only this test's own image tag is removed (the base image stays as a cache).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { call } from './helpers/api-client.js';
import { tempDir } from './helpers/node-process.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { keepIpForward, mustPodman, podman, requirePodman, RUN_LIMITS } from './helpers/podman.js';
import { freePort } from './helpers/ports.js';

const ROOT = resolve(import.meta.dirname, '..');
const TAG = `localhost/rampart-test:${process.pid}-${randomBytes(3).toString('hex')}`;
const VOLUME = `rampart-test-data-${process.pid}-${randomBytes(3).toString('hex')}`;
const PASSPHRASE = randomBytes(18).toString('base64url');

/** Runs build.sh, echoing its lines (the build times) to the test's output. */
function buildImage(): Promise<string> {
  return new Promise((done, fail) => {
    const started = Date.now();
    const child = spawn('bash', [join(ROOT, 'deploy/container/build.sh'), '--tag', TAG], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const echo = (d: Buffer): void => {
      out += d.toString();
      for (const line of d.toString().split('\n')) if (line.trim()) process.stdout.write(`build.sh: ${line}\n`);
    };
    child.stdout.on('data', echo);
    child.stderr.on('data', echo);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20 * 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      process.stdout.write(`container image ${TAG}: build.sh took ${((Date.now() - started) / 1000).toFixed(1)} s in all\n`);
      if (code === 0) done(out); else fail(new Error(`build.sh exited with ${code}:\n${out}`));
    });
  });
}

interface Running { id: string; httpUrl: string; httpsUrl: string; logs: () => Promise<string> }

describe('container image: non-root, read-only, configured by environment', () => {
  const restoreIpForward = keepIpForward();
  const containers: string[] = [];
  let imageBuilt = false;
  let volumeMade = false;
  let dir: string;
  let httpPort: number;
  let httpsPort: number;
  let node: Running;
  let adminToken: string;
  let ca: string;
  let serial: string;

  async function runContainer(): Promise<Running> {
    const publicBaseUrl = `http://127.0.0.1:${httpPort}`;
    const id = await mustPodman(['run', '--detach', '--read-only', '--cap-drop', 'all', '--security-opt', 'no-new-privileges', ...RUN_LIMITS,
      '--volume', `${VOLUME}:/var/lib/rampart`,
      '--publish', `127.0.0.1:${httpPort}:8080`, '--publish', `127.0.0.1:${httpsPort}:8443`,
      '--env', 'RAMPART_KEY_PASSPHRASE', '--env', `RAMPART_PUBLIC_BASE_URL=${publicBaseUrl}`, '--env', 'RAMPART_LOG__LEVEL=warn',
      TAG], { env: { ...process.env, RAMPART_KEY_PASSPHRASE: PASSPHRASE } });
    containers.push(id);
    const logs = async (): Promise<string> => { const r = await podman(['logs', id]); return r.stdout + r.stderr; };
    // Ready when the image's own HEALTHCHECK passes (GET /readyz from inside the container).
    const started = Date.now();
    for (let i = 0; ; i++) {
      const state = await mustPodman(['inspect', id, '--format', '{{.State.Status}}']);
      if (state !== 'running') throw new Error(`container ${id} is ${state}:\n${await logs()}`);
      if ((await podman(['healthcheck', 'run', id])).code === 0) break;
      if (i >= 300) throw new Error(`container ${id} did not become healthy:\n${await logs()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    process.stdout.write(`container ${id.slice(0, 12)}: healthy ${((Date.now() - started) / 1000).toFixed(1)} s after podman run returned\n`);
    return { id, httpUrl: publicBaseUrl, httpsUrl: `https://127.0.0.1:${httpsPort}`, logs };
  }

  /** Asks the container's OCSP responder (the URL in the certificate) with openssl; returns the status line. */
  function ocspStatus(leaf: string): string {
    const url = mustOpenssl(['x509', '-in', leaf, '-noout', '-ocsp_uri']).trim();
    assert.equal(url, `http://127.0.0.1:${httpPort}/ocsp`, 'the AIA OCSP URL comes from RAMPART_PUBLIC_BASE_URL');
    const out = mustOpenssl(['ocsp', '-url', url, '-issuer', `${dir}/int.pem`, '-cert', leaf, '-CAfile', `${dir}/root.pem`]);
    assert.match(out, /Response verify OK/);
    return /: (good|revoked|unknown)/.exec(out)?.[1] ?? out;
  }

  before(async () => {
    requirePodman();
    dir = tempDir('rampart-container-');
    httpPort = await freePort();
    httpsPort = await freePort();
    imageBuilt = true; // from here on, after() removes the tag (when present)
    await buildImage();
    await mustPodman(['volume', 'create', VOLUME]);
    volumeMade = true;
    node = await runContainer();
    const m = /Admin API token \(shown once, stored hashed\):\s+(\S+)/.exec(await node.logs());
    assert.ok(m, `the first start prints the admin token:\n${await node.logs()}`);
    adminToken = m[1]!;
    const bundle = await call(`${node.httpUrl}/ca/bundle.pem`);
    assert.equal(bundle.status, 200);
    ca = bundle.raw.toString('utf8');
  });

  after(async () => {
    const problems: string[] = [];
    for (const id of containers) {
      const r = await podman(['rm', '--force', '--time', '5', id]);
      if (r.code !== 0) problems.push(`podman rm ${id}: ${r.stderr}`);
    }
    if (volumeMade) {
      const r = await podman(['volume', 'rm', VOLUME]);
      if (r.code !== 0) problems.push(`podman volume rm ${VOLUME}: ${r.stderr}`);
    }
    if (imageBuilt && (await podman(['image', 'exists', TAG])).code === 0) {
      const r = await podman(['rmi', TAG]);
      if (r.code !== 0) problems.push(`podman rmi ${TAG}: ${r.stderr}`);
    }
    restoreIpForward();
    if (dir) rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, [], 'everything the test started is removed');
  });

  it('runs as uid 10001 on a read-only root filesystem, writes only to its volume and /tmp, and reports healthy', async () => {
    const [user, readOnly, health, caps] = (await mustPodman(['inspect', node.id, '--format', '{{.Config.User}}|{{.HostConfig.ReadonlyRootfs}}|{{.State.Health.Status}}|{{.EffectiveCaps}}'])).split('|');
    assert.equal(user, '10001:10001');
    assert.equal(caps, '[]', 'no capabilities (--cap-drop all)');
    assert.equal(readOnly, 'true');
    assert.equal(health, 'healthy');
    // The health check is not vacuous: pointed at a port nothing listens on, it fails.
    const wrongPort = await podman(['exec', '--env', 'RAMPART_HTTP__LISTEN=0.0.0.0:9', node.id, '/usr/local/bin/node', '/opt/rampart/deploy/container/healthcheck.mjs']);
    assert.equal(wrongPort.code, 1, wrongPort.stdout + wrongPort.stderr);
    assert.equal(await mustPodman(['exec', node.id, 'id', '-u']), '10001');
    const write = await podman(['exec', node.id, 'touch', '/opt/rampart/written']);
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /Read-only file system/);
    const files = await mustPodman(['exec', node.id, 'ls', '/var/lib/rampart']);
    assert.match(files, /rampart\.db/, 'the database lives on the data volume');
    const status = await call(`${node.httpsUrl}/api/v1/status`, { token: adminToken, ca });
    assert.equal(status.status, 200, 'REST over HTTPS through the published port, trusting the CA bundle');
  });

  it('issues a certificate over REST; the container answers OCSP good, then revoked', async () => {
    const issuers = (await call(`${node.httpsUrl}/api/v1/issuers`, { token: adminToken, ca })).body.items as Array<{ kind: string; active: boolean; certificatePem: string }>;
    writeFileSync(`${dir}/int.pem`, issuers.find((i) => i.kind === 'intermediate' && i.active)!.certificatePem);
    writeFileSync(`${dir}/root.pem`, issuers.find((i) => i.kind === 'root')!.certificatePem);
    for (const name of ['kept', 'gone']) {
      const { csrPath } = makeCsr(dir, name, { subj: `/CN=${name}.container.test`, san: `DNS:${name}.container.test` });
      const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token: adminToken, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      writeFileSync(`${dir}/${name}.pem`, r.body.certificatePem);
      if (name === 'gone') serial = r.body.serial;
      assert.equal(ocspStatus(`${dir}/${name}.pem`), 'good');
    }
    const rev = await call(`${node.httpsUrl}/api/v1/certificates/${serial}/revoke`, { method: 'POST', token: adminToken, ca, json: { reason: 'keyCompromise' } });
    assert.equal(rev.status, 200, JSON.stringify(rev.body));
    assert.equal(ocspStatus(`${dir}/gone.pem`), 'revoked');
    assert.equal(ocspStatus(`${dir}/kept.pem`), 'good');
  });

  it('stops cleanly on SIGTERM; a new container on the same volume keeps the CA, its certificates and their status', async () => {
    await mustPodman(['stop', '--time', '20', node.id]);
    // node is PID 1 in the container: SIGTERM reaches serve's handler, which closes the database and exits 0 (not 137 after SIGKILL).
    assert.equal(await mustPodman(['inspect', node.id, '--format', '{{.State.ExitCode}}']), '0');
    await mustPodman(['rm', node.id]);
    containers.splice(containers.indexOf(node.id), 1);
    node = await runContainer();
    assert.doesNotMatch(await node.logs(), /Admin API token/, 'no new hierarchy or token on a restart');
    const bundle = await call(`${node.httpUrl}/ca/bundle.pem`);
    assert.equal(bundle.raw.toString('utf8'), ca, 'the same CA');
    const got = await call(`${node.httpsUrl}/api/v1/certificates/${serial}`, { token: adminToken, ca });
    assert.equal(got.status, 200, 'the admin token from the first start still works');
    assert.equal(ocspStatus(`${dir}/gone.pem`), 'revoked');
    assert.equal(ocspStatus(`${dir}/kept.pem`), 'good');
  });
});
