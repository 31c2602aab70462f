/**
 * ACME with lego (Go, Debian's package), a client nobody here wrote, against
 * one real Rampart node on SQLite: for each of http-01, tls-alpn-01 and
 * dns-01 (lego's exec provider writing the records file the test DNS server
 * reads), lego registers, obtains a certificate for two names, renews it and
 * revokes it. Every certificate must pass `openssl verify` against the root
 * with lego's chain, and after the revocation the node's OCSP responder (asked
 * with `openssl ocsp`, at the URL in the certificate) must say revoked.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  acmeNodeEnv, checkCertificate, describeRun, legoBin, ocspStatus, readTxtRecords, removeAll, runLego, waitForDirectory, writeCaFiles,
  type LegoChallenge,
} from './helpers/acme-clients.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import { removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';
import { freePort } from './helpers/ports.js';

describe('lego against a Rampart node (SQLite)', () => {
  let node: NodeProcess | undefined;
  let dns: TestDnsServer | undefined;
  let dir: string;
  let directory: string;
  let ca: { bundle: string; root: string };
  let httpPort: number;
  let tlsPort: number;
  let records: string;

  before(async () => {
    legoBin(); // installs lego on a fresh machine (root), or fails naming the package
    dir = tempDir('rampart-acme-lego-');
    records = `${dir}/txt-records.json`;
    dns = await startDnsServer({ filePath: records });
    [httpPort, tlsPort] = [await freePort(), await freePort()];
    node = await startNode({ env: acmeNodeEnv({ httpPort, tlsPort, dnsResolver: dns.address }) });
    ca = await writeCaFiles(node.httpUrl, dir);
    directory = `${node.httpsUrl}/acme/directory`;
    await waitForDirectory(directory, ca.bundle);
  });

  after(async () => {
    await node?.stop();
    await dns?.close();
    if (node) removeDir(node.dataDir);
    removeAll(dir);
  });

  const cases: Array<[string, () => LegoChallenge]> = [
    ['http-01', () => ({ type: 'http', port: httpPort })],
    ['tls-alpn-01', () => ({ type: 'tls', port: tlsPort })],
    ['dns-01', () => ({ type: 'dns', resolver: dns!.address, recordsFile: records })],
  ];

  for (const [label, challenge] of cases) {
    it(`${label}: lego obtains, renews and revokes; openssl verifies; OCSP says revoked`, { timeout: 240_000 }, async () => {
      const domain = `${label.replace(/-01$/, '').replace(/[^a-z]/g, '')}.lego.example.test`;
      const domains = [domain, `www.${domain}`];
      const common = { server: directory, caBundle: ca.bundle, domains, challenge: challenge() };

      const obtained = await runLego({ ...common, command: 'run', path: `${dir}/lego-${label}` });
      assert.equal(obtained.code, 0, describeRun(obtained));
      assert.ok(obtained.haveCert, `lego wrote no certificate\n${describeRun(obtained)}`);
      // Both names were authorized with the challenge type under test (lego logs its solver per name).
      for (const d of domains) assert.match(obtained.stderr, new RegExp(`\\[${d.replace(/\./g, '\\.')}\\] acme: use ${label} solver`), describeRun(obtained));
      if (label === 'http-01') assert.match(obtained.stderr, /Served key authentication/, 'the node fetched the http-01 key authorization from lego');
      const first = checkCertificate(obtained.files.cert, obtained.files.issuer, ca.root);
      assert.deepEqual(first.dnsNames, [...domains].sort());
      assert.equal(ocspStatus({ url: first.ocspUrl, certFile: obtained.files.cert, issuerFile: first.issuerFile, rootFile: ca.root }).status, 'good');
      if (label === 'dns-01') {
        const log = readFileSync(`${obtained.path}/dns-exec/lego-dns-exec.log`, 'utf8');
        assert.match(log, /"present","fqdn":"_acme-challenge\.dns\.lego\.example\.test\."/, 'lego published the TXT record through the exec script');
        assert.deepEqual(readTxtRecords(records), {}, 'lego cleaned the TXT records up');
        assert.ok(dns!.queries.some((q) => q.type === 'TXT' && q.name === `_acme-challenge.${domain}`), 'the TXT record was asked for');
      }

      const renewed = await runLego({ ...common, command: 'renew', path: obtained.path });
      assert.equal(renewed.code, 0, describeRun(renewed));
      const second = checkCertificate(renewed.files.cert, renewed.files.issuer, ca.root);
      assert.notEqual(second.serial, first.serial, `lego renewed (new serial)\n${describeRun(renewed)}`);
      assert.deepEqual(second.dnsNames, [...domains].sort());

      const revoked = await runLego({ ...common, command: 'revoke', path: obtained.path });
      assert.equal(revoked.code, 0, describeRun(revoked));
      assert.match(revoked.stdout + revoked.stderr, /revoked/i, describeRun(revoked));
      const after = ocspStatus({ url: second.ocspUrl, certFile: renewed.files.cert, issuerFile: second.issuerFile, rootFile: ca.root });
      assert.equal(after.status, 'revoked', after.out);
    });
  }
});
