/**
 * The node's own HTTPS certificate is renewed while the node runs (before,
 * only a restart renewed it, so a node up for a month served an expired
 * certificate): once it is revoked (as a finished re-issuance campaign does
 * with the old hierarchy), the next check — every hour, and whenever the
 * issuers change — issues a new one from the active CA and swaps it into the
 * running server. Here: the served certificate is revoked over the API, then
 * `rampart ca rotate` in another process changes the issuers; the node picks
 * that up (30 s reload), renews, and new connections get a certificate from
 * the new intermediate that verifies against the node's CA bundle, while the
 * API keeps answering.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type PeerCertificate } from 'node:tls';
import { call } from './helpers/api-client.js';
import { rampartAsync } from './helpers/rampart-cli.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';
import { waitUntil } from '../src/core/wait.js';

function servedCertificate(url: string): Promise<PeerCertificate> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false, servername: 'localhost' }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(c);
    });
    s.on('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('TLS handshake timed out')));
  });
}

describe('the node renews its own TLS certificate while it runs', () => {
  let node: TestNode | undefined;
  after(async () => { await node?.close(); });

  it('a revoked node certificate is replaced from the active CA without a restart', { timeout: 300_000 }, async () => {
    node = await startTestNode({ prefix: 'rampart-node-tls-' });
    const token = node.adminToken!;
    const first = await servedCertificate(node.httpsUrl);
    const serial = first.serialNumber.toLowerCase();
    const rec = await call(`${node.httpsUrl}/api/v1/certificates/${serial}`, { token, ca: node.ca });
    assert.equal(rec.status, 200, `the node's certificate is in the inventory: ${JSON.stringify(rec.body)}`);
    assert.equal(rec.body.profile, 'node-tls');
    const revoked = await call(`${node.httpsUrl}/api/v1/certificates/${serial}/revoke`, { token, ca: node.ca, json: { reason: 'superseded' } });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));

    const rotate = await rampartAsync(node.dataDir, ['--json', 'ca', 'rotate'], 120_000);
    assert.equal(rotate.code, 0, rotate.stderr);
    const newIssuer = (JSON.parse(rotate.stdout) as { intermediate: { id: string; subject: string } }).intermediate;

    const renewed = await waitUntil('the node to serve a new certificate', async () => {
      const c = await servedCertificate(node!.httpsUrl);
      return c.serialNumber.toLowerCase() !== serial ? c : null;
    }, 120_000, 1000);
    assert.equal(`CN=${renewed.issuer.CN}`, newIssuer.subject.split(',')[0], JSON.stringify(renewed.issuer));
    const now = await call(`${node.httpsUrl}/api/v1/certificates/${renewed.serialNumber.toLowerCase()}`, { token, ca: (await call(`${node.httpUrl}/ca/bundle.pem`)).raw.toString() });
    assert.equal(now.status, 200, 'the API answers over the new certificate, which verifies against the CA bundle');
    assert.equal(now.body.issuerId, newIssuer.id, 'issued by the intermediate now active');
    assert.equal(now.body.status, 'good');
  });
});
