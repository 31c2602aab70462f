/**
 * `rampart pki rebuild` through the CLI on real data directories (no ACME
 * client here; test/reissue-campaign.test.ts drives lego):
 * - intermediate compromise with the online root: a new intermediate under
 *   the same root becomes the issuer, the old one is the campaign's;
 * - root loss with an offline root: `rampart ca request` here, `rampart root
 *   init` + `root sign` in an offline directory, `pki rebuild --bundle`
 *   takes the new root in;
 * - bad input changes nothing: a second rebuild while a campaign is active,
 *   an unknown export format, re-issuing a serial not in the campaign,
 *   finishing a campaign that does not exist.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { rampartAsync } from './helpers/rampart-cli.js';
import { openssl } from './helpers/openssl.js';
import { removeDir, tempDir } from './helpers/node-process.js';

const env = { RAMPART_KEY_PASSPHRASE: 'rebuild-test-passphrase-0123' };
const rampart = (dataDir: string, args: string[]) => rampartAsync(dataDir, args, 180_000, env);
type Issuers = { issuers: Array<{ id: string; kind: string; parentId: string | null; active: boolean; subject: string }> };

describe('rampart pki rebuild (CLI)', () => {
  const dirs: string[] = [];
  after(() => { for (const d of dirs) removeDir(d); });
  const fresh = async (): Promise<string> => {
    const d = tempDir('rampart-rebuild-cli-');
    dirs.push(d);
    const init = await rampart(d, ['--json', 'init']);
    assert.equal(init.code, 0, init.stderr);
    return d;
  };
  const issuers = async (d: string): Promise<Issuers['issuers']> => (JSON.parse((await rampart(d, ['--json', 'ca'])).stdout) as Issuers).issuers;

  it('intermediate compromise: new intermediate under the same root; bad input refused and changes nothing', async () => {
    const d = await fresh();
    const before = await issuers(d);
    const oldInt = before.find((i) => i.kind === 'intermediate' && i.active)!;
    const r = await rampart(d, ['--json', 'pki', 'rebuild', '--intermediate-compromise', '--deadline-days', '14']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { root: { id: string }; intermediate: { id: string }; campaign: { kind: string; oldIssuers: string[]; newIssuers: string[]; deadline: string } };
    assert.equal(out.root.id, oldInt.parentId, 'the same root');
    assert.equal(out.campaign.kind, 'intermediate-compromise');
    assert.deepEqual(out.campaign.oldIssuers, [oldInt.id]);
    assert.deepEqual(out.campaign.newIssuers, [out.intermediate.id]);
    assert.ok(new Date(out.campaign.deadline).getTime() > Date.now() + 13 * 86_400_000);
    const after = await issuers(d);
    assert.equal(after.find((i) => i.kind === 'intermediate' && i.active)!.id, out.intermediate.id);

    const again = await rampart(d, ['pki', 'rebuild']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /still active: finish it first/);
    assert.deepEqual((await issuers(d)).map((i) => i.id).sort(), after.map((i) => i.id).sort(), 'the refused rebuild made no CA');
    const fmt = await rampart(d, ['pki', 'campaign', 'export', '--format', 'xml']);
    assert.notEqual(fmt.code, 0);
    assert.match(fmt.stderr, /--format must be ndjson or csv/);
    const re = await rampart(d, ['--json', 'pki', 'campaign', 'reissue', 'abcdef']);
    assert.equal(re.code, 1);
    assert.match(JSON.parse(re.stdout).reissued[0].error, /not in campaign/);
    const csv = await rampart(d, ['pki', 'campaign', 'export', '--format', 'csv']);
    assert.equal(csv.code, 0, csv.stderr);
    assert.match(csv.stdout, /^serial,channel,requester,profile,subject,names,notAfter,state,replacedBy,replacedAt\n/);
    // Nothing outstanding (this data directory issued nothing): finishing needs no --force.
    const fin = await rampart(d, ['--json', 'pki', 'campaign', 'finish']);
    assert.equal(fin.code, 0, fin.stderr);
    const note = JSON.parse(fin.stdout).note as string;
    assert.match(note, /every certificate re-issued; 0 certificate\(s\) of the old hierarchy revoked \(cACompromise\)/);
    // The compromised intermediate itself is revoked by its (online) root: listed on the root's complete CRL.
    const revokedInt = /intermediate .* \(serial ([0-9a-f]+)\) revoked by .* \(cACompromise: on its CRL and OCSP\)/.exec(note);
    assert.ok(revokedInt, note);
    const rootCrl = join(d, 'root.crl');
    const crl = await rampart(d, ['--json', 'crl', '--issuer', out.root.id, '--out', rootCrl]);
    assert.equal(crl.code, 0, crl.stderr);
    const text = openssl(['crl', '-inform', 'DER', '-in', rootCrl, '-noout', '-text']).out;
    assert.match(text, new RegExp(`Serial Number: ${revokedInt[1]!.toUpperCase()}\\s+Revocation Date: [^\\n]+\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+CA Compromise`), text);
    const none = await rampart(d, ['pki', 'campaign', 'finish']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no active re-issuance campaign/);
    const st = await rampart(d, ['pki', 'campaign', 'status']);
    assert.match(st.stdout, /intermediate-compromise\), finished/);
  });

  it('root loss with an offline root: ca request, root init + sign elsewhere, pki rebuild --bundle', async () => {
    const d = await fresh();
    const oldRoot = (await issuers(d)).find((i) => i.kind === 'root')!;
    const offline = tempDir('rampart-rebuild-offline-');
    dirs.push(offline);
    const csr = join(offline, 'int.csr');
    // The root key is lost: its sealed key file goes (then `ca request` accepts a request for another root to sign).
    const keyFiles = readdirSync(join(d, 'keys')).filter((f) => /^root-[0-9a-f]{8}\.key\.json$/.test(f));
    assert.equal(keyFiles.length, 1, readdirSync(join(d, 'keys')).join(' '));
    rmSync(join(d, 'keys', keyFiles[0]!));
    const req = await rampart(d, ['ca', 'request', '--subject', 'CN=Rebuilt Issuing CA, O=Rampart Test', '--out', csr]);
    assert.equal(req.code, 0, req.stderr);
    const rootDir = join(offline, 'root');
    assert.equal((await rampartAsync(d, ['root', 'init', '--dir', rootDir, '--subject', 'CN=Rebuilt Root CA, O=Rampart Test'], 120_000, env)).code, 0);
    const bundle = join(offline, 'bundle.pem');
    const sign = await rampartAsync(d, ['root', 'sign', '--dir', rootDir, '--csr', csr, '--out', bundle], 120_000, env);
    assert.equal(sign.code, 0, sign.stderr);
    const r = await rampart(d, ['--json', 'pki', 'rebuild', '--bundle', bundle]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { root: { id: string; subject: string }; campaign: { oldIssuers: string[] } };
    assert.notEqual(out.root.id, oldRoot.id);
    assert.equal(out.root.subject, 'CN=Rebuilt Root CA, O=Rampart Test');
    assert.ok(out.campaign.oldIssuers.includes(oldRoot.id));
    const now = await issuers(d);
    const active = now.find((i) => i.kind === 'intermediate' && i.active)!;
    assert.equal(active.parentId, out.root.id, 'the new intermediate, under the new root, issues');
    assert.equal(now.filter((i) => i.kind === 'root').length, 2, 'the old root stays (its certificates are still being replaced)');
  });
});
