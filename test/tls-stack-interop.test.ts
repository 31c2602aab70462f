/**
 * The node's CRLs and OCSP answers with the three TLS stacks of a Linux
 * host, each run as its own command-line client against a real node, with
 * the root as the only trust anchor:
 *
 * - OpenSSL: `openssl verify -crl_check` and `-crl_check_all` with the root
 *   and the intermediate CRL (the second also checks the intermediate against
 *   the root CRL, and the root itself: a CRL whose scope leaves one of them
 *   out fails with "different CRL scope"); `openssl ocsp` good / revoked.
 * - GnuTLS: `certtool --verify` with both CRLs loaded; `ocsptool --ask`
 *   against the node's OCSP URL. ocsptool is given the issuing CA (as GnuTLS
 *   checks a stapled answer: by the certificate's issuer, which the chain
 *   check has already tied to the root), because `--load-trust` accepts a
 *   delegated responder only when a trusted certificate signed it directly.
 * - NSS: a temporary database trusting only the root (the intermediate is in
 *   it untrusted: crlutil checks a CRL's signature against its issuer),
 *   `crlutil -I` of both CRLs (an unknown critical extension, such as a
 *   critical Issuing Distribution Point, is refused here), then `vfychain`
 *   with the PKIX revocation checks: CRLs for the leaf and the chain, and
 *   OCSP for the leaf (fetched from the certificate's AIA URL), each with
 *   requireFreshInfo and failIfNoInfo so a missing answer is a failure.
 *
 * A good leaf passes and a revoked leaf is revoked in all three. The tools
 * come from the Debian packages gnutls-bin and libnss3-tools (installed when
 * missing and root; otherwise the test fails naming them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCrl } from '../src/pki/crl-builder.js';
import { call } from './helpers/api-client.js';
import { findCommand, installDebianPackages } from './helpers/debian.js';
import { makeCsr, mustOpenssl, openssl } from './helpers/openssl.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

/** Command -> Debian package, for every tool this file runs besides openssl. */
const TOOLS: Record<string, string> = {
  certtool: 'gnutls-bin', ocsptool: 'gnutls-bin', certutil: 'libnss3-tools', crlutil: 'libnss3-tools', vfychain: 'libnss3-tools',
};

function requireTools(): Record<string, string> {
  const missing = [...new Set(Object.entries(TOOLS).filter(([cmd]) => !findCommand(cmd)).map(([, pkg]) => pkg))];
  if (missing.length) {
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
      throw new Error(`the TLS-stack interop test needs GnuTLS and NSS tools (missing: ${missing.join(', ')}): apt-get install gnutls-bin libnss3-tools`);
    }
    installDebianPackages(missing);
  }
  return Object.fromEntries(Object.keys(TOOLS).map((cmd) => {
    const p = findCommand(cmd);
    if (!p) throw new Error(`"${cmd}" is still missing after installing ${TOOLS[cmd]}: apt-get install gnutls-bin libnss3-tools`);
    return [cmd, p];
  }));
}

interface Run { code: number; out: string }
function run(cmd: string, args: string[]): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}` };
}
function must(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed:\n${r.out}`);
  return r.out;
}

describe('OpenSSL, GnuTLS and NSS accept the CRLs and OCSP answers of a running node', () => {
  let node: TestNode;
  let tools: Record<string, string>;
  let ca = '';
  const f = (n: string) => node.file(n);
  const leaves = { good: { serial: '' }, revoked: { serial: '' } };

  before(async () => {
    tools = requireTools();
    node = await startTestNode({ prefix: 'rampart-tls-stacks-' });
    const issuers = await call(`${node.httpsUrl}/api/v1/issuers`, { token: node.adminToken!, ca: node.ca });
    assert.equal(issuers.status, 200);
    const items = issuers.body.items as Array<{ id: string; kind: string; active: boolean; certificatePem: string }>;
    const root = items.find((i) => i.kind === 'root')!;
    const int = items.find((i) => i.kind === 'intermediate' && i.active)!;
    ca = root.certificatePem;
    writeFileSync(f('root.pem'), root.certificatePem);
    writeFileSync(f('int.pem'), int.certificatePem);
    mustOpenssl(['x509', '-in', f('int.pem'), '-outform', 'DER', '-out', f('int.der')]);

    for (const name of ['good', 'revoked'] as const) {
      const { csrPath } = makeCsr(node.dir, name, { subj: `/CN=${name}.example.test`, san: `DNS:${name}.example.test` });
      const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token: node.adminToken!, ca, json: { csr: readFileSync(csrPath, 'utf8'), profile: 'server' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      leaves[name].serial = String(r.body.serial);
      writeFileSync(f(`${name}.pem`), r.body.certificatePem);
      writeFileSync(f(`${name}.chain.pem`), r.body.certificatePem + int.certificatePem);
      mustOpenssl(['x509', '-in', f(`${name}.pem`), '-outform', 'DER', '-out', f(`${name}.der`)]);
    }
    const rv = await call(`${node.httpsUrl}/api/v1/certificates/${leaves.revoked.serial}/revoke`, { token: node.adminToken!, ca, json: { reason: 'keyCompromise' } });
    assert.equal(rv.status, 200, JSON.stringify(rv.body));

    // The CRLs as published (the intermediate's is regenerated at once after the revocation: poll briefly).
    const wanted = leaves.revoked.serial.toLowerCase().replace(/^0+/, '');
    for (const [name, id] of [['root', root.id], ['int', int.id]] as const) {
      for (let i = 0; ; i++) {
        const crl = await call(`${node.httpUrl}/crl/${id}.crl`);
        assert.equal(crl.status, 200);
        const der = new Uint8Array(crl.raw as Buffer);
        const info = parseCrl(der);
        assert.deepEqual(info.idpUrls, [], `the ${name} CRL is a complete CRL without an Issuing Distribution Point`);
        if (name === 'root' || info.entries.some((e) => e.serialHex.replace(/^0+/, '') === wanted)) {
          writeFileSync(f(`${name}.crl.der`), der);
          break;
        }
        assert.ok(i < 100, 'the intermediate CRL lists the revoked leaf within 10 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      mustOpenssl(['crl', '-inform', 'DER', '-in', f(`${name}.crl.der`), '-out', f(`${name}.crl.pem`)]);
    }
    writeFileSync(f('crls.pem'), readFileSync(f('root.crl.pem'), 'utf8') + readFileSync(f('int.crl.pem'), 'utf8'));
  });

  after(async () => {
    await node?.close();
  });

  it('OpenSSL: verify -crl_check and -crl_check_all with both CRLs; ocsp good and revoked', () => {
    for (const mode of ['-crl_check', '-crl_check_all']) {
      const verify = (leaf: string) => openssl(['verify', '-x509_strict', mode, '-CAfile', f('root.pem'), '-untrusted', f('int.pem'),
        '-CRLfile', f('int.crl.pem'), '-CRLfile', f('root.crl.pem'), f(`${leaf}.pem`)]);
      const good = verify('good');
      assert.equal(good.code, 0, `${mode} good: ${good.out}`);
      assert.match(good.out, /good\.pem: OK/);
      const bad = verify('revoked');
      assert.notEqual(bad.code, 0, `${mode} revoked: ${bad.out}`);
      assert.match(bad.out, /error 23 at 0 depth lookup: certificate revoked/);
      assert.doesNotMatch(bad.out, /CRL scope|unable to get certificate CRL/);
    }
    // The intermediate alone against the root CRL (depth 0 is the intermediate here).
    const intOnly = openssl(['verify', '-x509_strict', '-crl_check_all', '-CAfile', f('root.pem'), '-CRLfile', f('root.crl.pem'), f('int.pem')]);
    assert.equal(intOnly.code, 0, intOnly.out);

    const ocsp = (leaf: string) => mustOpenssl(['ocsp', '-issuer', f('int.pem'), '-cert', f(`${leaf}.pem`), '-CAfile', f('root.pem'), '-url', `${node.httpUrl}/ocsp`]);
    const good = ocsp('good');
    assert.match(good, /Response verify OK/);
    assert.match(good, /good\.pem: good/);
    const bad = ocsp('revoked');
    assert.match(bad, /Response verify OK/);
    assert.match(bad, /revoked\.pem: revoked/);
    assert.match(bad, /Reason: keyCompromise/);
  });

  it('GnuTLS: certtool --verify with both CRLs; ocsptool --ask good and revoked', () => {
    const verify = (leaf: string) => run(tools.certtool!, ['--verify', '--verify-profile', 'medium', '--load-ca-certificate', f('root.pem'),
      '--load-crl', f('crls.pem'), '--infile', f(`${leaf}.chain.pem`)]);
    const good = verify('good');
    assert.equal(good.code, 0, good.out);
    assert.match(good.out, /Checked against CRL\[[0-9a-fA-F]+\] of: [^\n]*CN=[^\n]*Root CA/, 'the intermediate is checked against the root CRL');
    assert.match(good.out, /Checked against CRL\[[0-9a-fA-F]+\] of: [^\n]*CN=[^\n]*Issuing CA/, 'the leaf is checked against the intermediate CRL');
    assert.match(good.out, /Chain verification output: Verified\. The certificate is trusted\./);
    const bad = verify('revoked');
    assert.notEqual(bad.code, 0, bad.out);
    assert.match(bad.out, /Chain verification output: Not verified\. The certificate is NOT trusted\. The certificate chain is revoked\./);

    const ask = (leaf: string) => must(tools.ocsptool!, [`--ask=${node.httpUrl}/ocsp`, '--load-issuer', f('int.pem'), '--load-cert', f(`${leaf}.pem`)]);
    const okAnswer = ask('good');
    assert.match(okAnswer, /Certificate Status: good/);
    assert.match(okAnswer, /Verifying OCSP Response: Success\./);
    const revokedAnswer = ask('revoked');
    assert.match(revokedAnswer, /Certificate Status: revoked/);
    assert.match(revokedAnswer, /Verifying OCSP Response: Success\./);
  });

  it('NSS: crlutil -I imports both CRLs; vfychain checks CRLs and OCSP', () => {
    const db = f('nssdb');
    mkdirSync(db);
    const d = `sql:${db}`;
    must(tools.certutil!, ['-N', '-d', d, '--empty-password']);
    must(tools.certutil!, ['-A', '-d', d, '-n', 'rampart-root', '-t', 'C,,', '-i', f('root.pem')]);
    // Known to NSS (crlutil checks the intermediate CRL's signature with it) but not trusted.
    must(tools.certutil!, ['-A', '-d', d, '-n', 'rampart-int', '-t', ',,', '-i', f('int.pem')]);
    for (const name of ['root', 'int']) must(tools.crlutil!, ['-I', '-d', d, '-t', '1', '-i', f(`${name}.crl.der`)]);
    const listed = must(tools.crlutil!, ['-L', '-d', d]);
    assert.match(listed, /rampart-root\s+CRL/);
    assert.match(listed, /rampart-int\s+CRL/);

    const fresh = (test: string, method: string) => ['-g', test, '-h', 'requireFreshInfo', '-m', method, '-s', 'failIfNoInfo'];
    const vfy = (leaf: string, revocation: string[]) => run(tools.vfychain!, ['-d', d, '-v', '-u', '1', '-pp', ...revocation, f(`${leaf}.der`), f('int.der')]);
    const crl = [...fresh('leaf', 'crl'), ...fresh('chain', 'crl')];
    const ocsp = fresh('leaf', 'ocsp');
    for (const [what, flags] of [['crl', crl], ['ocsp', ocsp]] as const) {
      const good = vfy('good', flags);
      assert.equal(good.code, 0, `${what} good: ${good.out}`);
      assert.match(good.out, /Chain is good!/);
      const bad = vfy('revoked', flags);
      assert.notEqual(bad.code, 0, `${what} revoked: ${bad.out}`);
      assert.match(bad.out, /Chain is bad!/);
      assert.match(bad.out, /ERROR -8180: Peer's Certificate has been revoked\./);
    }
  });
});
