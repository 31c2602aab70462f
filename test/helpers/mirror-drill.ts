/**
 * Validation that outlives the nodes, as a drill (test/validation-mirror*.test.ts):
 * a node keeps a static copy of validation — in a directory served by a plain
 * static web server (python3 http.server), or in S3-compatible storage
 * (s3rver, read by path-style GETs); HAProxy from `rampart haproxy-config
 * --validation-mirror [--validation-mirror-path]` sends validation to the node
 * while it is up and to the copy while no node is. After kill -9 of the node,
 * real OpenSSL clients get good and revoked OCSP answers (POST and GET,
 * URL-encoded or not) and a CRL that lists the revocation, through HAProxy;
 * the drill reports how long the copy keeps answering (mirror.json validUntil).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startS3rver, type S3rverProcess } from './s3rver-process.js';
import { join } from 'node:path';
import { call } from './api-client.js';
import { requireCommand } from './debian.js';
import { makeHaproxyTlsCert, startHaproxy, waitForServerStates, type HaproxyProcess } from './haproxy.js';
import { RAMPART_BIN } from './node-process.js';
import { makeCsr, mustOpenssl, openssl } from './openssl.js';
import { freePort } from './ports.js';
import { prepareTestNode, type TestNode } from './running-node.js';
import { singleOcspRequestDer, staticOcspName } from '../../src/validation/mirror/static-ocsp-names.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => T | null | undefined | Promise<T | null | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** python3's http.server on a free loopback port over `root`: a web server that knows nothing of OCSP. */
async function startStaticServer(root: string): Promise<{ port: number; child: ChildProcess; stop: () => Promise<void> }> {
  const python = requireCommand('python3', 'python3');
  const port = await freePort();
  const child = spawn(python, ['-m', 'http.server', '--bind', '127.0.0.1', '--directory', root, String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.resume();
  await waitFor('the static server', async () => (await fetch(`http://127.0.0.1:${port}/mirror.json`).then((r) => r.status === 200, () => false)) || null);
  return {
    port, child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    },
  };
}

/** Where the copy is kept and how a plain HTTP server serves it. */
interface CopyKind {
  /** The `mirror:` section of the node's configuration. */
  config: string;
  env: Record<string, string>;
  /** A file of the copy, or null while it is not there. */
  read(rel: string): Promise<Buffer | null>;
  /** The HTTP server over the copy: its address and the path the copy is under. */
  serve(): Promise<{ hostPort: string; path: string }>;
  stop(): Promise<void>;
}

function directoryCopy(root: string): CopyKind {
  let server: Awaited<ReturnType<typeof startStaticServer>> | undefined;
  return {
    config: `mirror:\n  directory: ${root}\n  everySeconds: 10\n`,
    env: {},
    read: async (rel) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel)) : null),
    serve: async () => {
      server = await startStaticServer(root);
      return { hostPort: `127.0.0.1:${server.port}`, path: '' };
    },
    stop: async () => { await server?.stop(); },
  };
}

const BUCKET = 'validation-copy';
const PREFIX = 'ca1/mirror/';

/** The copy in s3rver (its own storage layout, nothing to read as files): path-style GETs serve it. */
async function s3Copy(dir: string): Promise<CopyKind> {
  mkdirSync(dir, { recursive: true });
  const s3: S3rverProcess = await startS3rver(dir, BUCKET);
  const base = `${s3.endpoint}/${BUCKET}/${PREFIX}`;
  return {
    config: `mirror:\n  everySeconds: 10\n  s3:\n    bucket: ${BUCKET}\n    prefix: ${PREFIX}\n    endpoint: ${s3.endpoint}\n    forcePathStyle: true\n`
      + '    accessKeyIdEnv: MIRROR_S3_KEY\n    secretAccessKeyEnv: MIRROR_S3_SECRET\n',
    env: { MIRROR_S3_KEY: 'S3RVER', MIRROR_S3_SECRET: 'S3RVER' },
    // s3rver writes an object into its file in place (S3 itself replaces objects whole), so a GET during the
    // node's PutObject can return part of it: an object counts once two reads in a row agree.
    read: async (rel) => {
      const once = async (): Promise<Buffer | null> => {
        const r = await fetch(base + rel);
        return r.status === 200 ? Buffer.from(await r.arrayBuffer()) : null;
      };
      const a = await once();
      if (!a) return null;
      await sleep(50);
      const b = await once();
      return b && a.equals(b) ? a : null;
    },
    serve: async () => ({ hostPort: new URL(s3.endpoint).host, path: `/${BUCKET}/${PREFIX.replace(/\/$/, '')}` }),
    stop: () => s3.stop(),
  };
}

export function mirrorDrill(kind: 'directory' | 's3'): void {
  describe(`validation outlives the nodes (static copy in ${kind === 's3' ? 'S3' : 'a directory'}, behind HAProxy)`, () => {
    let node: TestNode;
    let copy: CopyKind;
    let dir = '';
    let token: string;
    let haproxy: HaproxyProcess | undefined;
    let validationUrl = '';
    let statsUrl = '';
    const leaf = { good: '', revoked: '', goodSerial: '', revokedSerial: '' };
    let issuerPem = '';
    let issuerId = '';
    let rootPem = '';

    const pem = (name: string, text: string): string => {
      const f = node.file(name);
      writeFileSync(f, text);
      return f;
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rampart-mirror-copy-'));
      copy = kind === 's3' ? await s3Copy(join(dir, 's3')) : directoryCopy(join(dir, 'mirror'));
      node = await prepareTestNode({ prefix: 'rampart-mirror-', env: copy.env });
      writeFileSync(join(node.dataDir, 'rampart.yaml'), `publicBaseUrl: ${node.httpUrl}\n${copy.config}`);
      await node.start();
      token = node.adminToken!;
      for (const kind of ['good', 'revoked'] as const) {
        const csr = readFileSync(makeCsr(node.dir, kind, { subj: `/CN=${kind}.mirror.test`, san: `DNS:${kind}.mirror.test` }).csrPath, 'utf8');
        const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca: node.ca, json: { csr, profile: 'server' } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        leaf[kind] = pem(`${kind}.pem`, r.body.certificatePem);
        leaf[`${kind}Serial`] = r.body.serial;
        issuerId = r.body.issuerId;
        issuerPem = String((await call(`${node.httpUrl}/ca/${issuerId}.pem`)).body);
      }
      const bundle = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
      rootPem = bundle.split(/(?=-----BEGIN CERTIFICATE-----)/).find((c) => !issuerPem.includes(c.trim()))!;
      pem('issuer.pem', issuerPem);
      pem('root.pem', rootPem);
      const rv = await call(`${node.httpsUrl}/api/v1/certificates/${leaf.revokedSerial}/revoke`, { token, ca: node.ca, json: { reason: 1 } });
      assert.equal(rv.status, 200, JSON.stringify(rv.body));
    });

    after(async () => {
      await haproxy?.stop();
      await node?.close();
      await copy?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** `openssl ocsp` (POST, no nonce) through `url`: its status line for the certificate. */
    const ocspStatus = (certFile: string, url: string): string => {
      const r = openssl(['ocsp', '-issuer', node.file('issuer.pem'), '-cert', certFile, '-url', url, '-no_nonce',
        '-CAfile', node.file('root.pem'), '-verify_other', node.file('issuer.pem'), '-timeout', '10']);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /Response verify OK/, r.out);
      return (new RegExp(`^${certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (\\w+)`, 'm').exec(r.out) ?? [])[1] ?? r.out;
    };

    it('the copy holds an answer per certificate and hash, the CRL and the CA certificates', async () => {
      const status = await waitFor('mirror.json with both certificates and the revocation', async () => {
        const json = await copy.read('mirror.json');
        if (!json) return null;
        const s = JSON.parse(json.toString('utf8'));
        const answer = await copy.read(`ocsp/${staticOcspName(singleOcspRequestDer(pemDer(issuerPem), leaf.revokedSerial, 'sha1'))}`);
        if (!answer) return null;
        writeFileSync(node.file('copied.resp'), answer);
        const r = openssl(['ocsp', '-respin', node.file('copied.resp'), '-resp_text', '-noverify']);
        // A full pass (every 10 s) that saw the two leaves and the intermediate (answered for by the root):
        // the revoked answer alone can come from the revocation's own copy, before such a pass.
        return s.certificates >= 3 && s.crls.length >= 1 && /Cert Status: revoked/.test(r.out) ? s : null;
      });
      // Each under SHA-1 and SHA-256.
      assert.equal(status.ocspAnswers, 2 * status.certificates);
      assert.ok(Date.parse(status.validUntil) > Date.now());
      for (const f of ['ca/bundle.pem', `crl/${issuerId}.crl`]) assert.ok(await copy.read(f), f);
      // The name is what OpenSSL's own request for the certificate hashes to.
      const req = node.file('good.req');
      mustOpenssl(['ocsp', '-issuer', node.file('issuer.pem'), '-cert', leaf.good, '-no_nonce', '-reqout', req]);
      assert.deepEqual(new Uint8Array(readFileSync(req)), singleOcspRequestDer(pemDer(issuerPem), leaf.goodSerial, 'sha1'));
    });

    it('with the node killed, HAProxy serves OCSP (POST and GET) and the CRL from the copy', async () => {
      const server = await copy.serve();
      const [httpPort, httpsPort, statsPort] = [await freePort(), await freePort(), await freePort()];
      const gen = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', node.dataDir, 'haproxy-config',
        '--node', `n1=${node.httpUrl},${node.httpsUrl}`, '--validation-mirror', server.hostPort,
        ...(server.path ? ['--validation-mirror-path', server.path] : []),
        '--bind-http', `127.0.0.1:${httpPort}`, '--bind-https', `127.0.0.1:${httpsPort}`, '--stats-bind', `127.0.0.1:${statsPort}`,
        '--tls-cert', makeHaproxyTlsCert(node.dataDir, node.dir), '--interval', '500ms', '--timeout', '400ms', '--fall', '2', '--rise', '1',
        '--out', node.file('haproxy.cfg')], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn' } });
      assert.equal(gen.status, 0, gen.stderr);
      haproxy = await startHaproxy(readFileSync(node.file('haproxy.cfg'), 'utf8'), node.dir);
      validationUrl = `http://127.0.0.1:${httpPort}`;
      statsUrl = `http://127.0.0.1:${statsPort}`;
      await waitForServerStates(statsUrl, (s) => s['validation/n1'] === 'UP' && s['validation_mirror/mirror'] === 'UP', 20_000);

      // Node up: the node answers.
      const viaNode = await fetch(`${validationUrl}/ca/bundle.pem`);
      assert.equal(viaNode.headers.get('x-rampart-node'), 'n1');
      assert.equal(ocspStatus(leaf.good, `${validationUrl}/ocsp`), 'good');

      await node.stop('SIGKILL');
      // Down in both node backends (ready, and alive for the fallback): only then does the copy answer.
      await waitForServerStates(statsUrl, (s) => s['validation/n1'] === 'DOWN' && s['validation_fallback/n1'] === 'DOWN', 20_000);

      // POST, as openssl sends it.
      assert.equal(ocspStatus(leaf.good, `${validationUrl}/ocsp`), 'good');
      assert.equal(ocspStatus(leaf.revoked, `${validationUrl}/ocsp`), 'revoked');

      // GET (RFC 6960 appendix A), the base64 URL-encoded and raw.
      const req = node.file('revoked.req');
      mustOpenssl(['ocsp', '-issuer', node.file('issuer.pem'), '-cert', leaf.revoked, '-no_nonce', '-reqout', req]);
      const b64 = readFileSync(req).toString('base64');
      for (const path of [encodeURIComponent(b64), b64]) {
        const r = await fetch(`${validationUrl}/ocsp/${path}`);
        assert.equal(r.status, 200, path);
        assert.equal(r.headers.get('content-type'), 'application/ocsp-response');
        assert.equal(r.headers.get('x-rampart-node'), 'mirror');
        writeFileSync(node.file('get.resp'), Buffer.from(await r.arrayBuffer()));
        const v = openssl(['ocsp', '-respin', node.file('get.resp'), '-issuer', node.file('issuer.pem'), '-cert', leaf.revoked,
          '-CAfile', node.file('root.pem'), '-verify_other', node.file('issuer.pem')]);
        assert.match(v.out, /Response verify OK/, v.out);
        assert.match(v.out, /: revoked/, v.out);
      }

      // A request the copy cannot have answered (a nonce) finds nothing rather than a wrong answer.
      const withNonce = node.file('nonce.req');
      mustOpenssl(['ocsp', '-issuer', node.file('issuer.pem'), '-cert', leaf.good, '-reqout', withNonce]);
      assert.equal((await fetch(`${validationUrl}/ocsp/${encodeURIComponent(readFileSync(withNonce).toString('base64'))}`)).status, 404);

      // The CRL the revoked certificate names (its shard's), from the copy, signed and listing the revocation.
      const status = JSON.parse((await copy.read('mirror.json'))!.toString('utf8'));
      const cdp = /URI:(\S+)/.exec(mustOpenssl(['x509', '-in', leaf.revoked, '-noout', '-ext', 'crlDistributionPoints']))![1]!;
      assert.match(new URL(cdp).pathname, new RegExp(`^/crl/${issuerId}/\\d+\\.crl$`));
      const crl = await fetch(`${validationUrl}${new URL(cdp).pathname}`);
      assert.equal(crl.status, 200);
      assert.equal(crl.headers.get('content-type'), 'application/pkix-crl');
      writeFileSync(node.file('mirror.crl'), Buffer.from(await crl.arrayBuffer()));
      const text = mustOpenssl(['crl', '-inform', 'DER', '-in', node.file('mirror.crl'), '-CAfile', node.file('issuer.pem'), '-noout', '-text']);
      assert.match(text.toUpperCase(), new RegExp(leaf.revokedSerial.toUpperCase()));

      const left = Date.parse(status.validUntil) - Date.now();
      assert.ok(left > 0);
      console.log(`drill: with every node down the copy answers OCSP and CRLs for another ${(left / 3_600_000).toFixed(2)} h (until ${status.validUntil})`);
    });
  });
}

function pemDer(p: string): Uint8Array {
  return new Uint8Array(Buffer.from(p.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
}
