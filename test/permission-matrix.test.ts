/**
 * The permission matrix (src/http/api/auth.ts: PERMISSIONS and ROUTE_ACCESS),
 * walked against a real node: the routes the node serves (its OpenAPI
 * document) are exactly the routes in the table; every token-protected route
 * is called with no token, a made-up token, and a token of every role, and
 * answers 401, 401, and allow or 403 as the table says; every denied
 * attempt is in the audit log with actor, source, channel and outcome.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { PERMISSIONS, ROUTE_ACCESS } from '../src/http/api/auth.js';
import { TOKEN_ROLES } from '../src/auth/tokens.js';
import type { TokenRole } from '../src/core/types.js';
import { call } from './helpers/api-client.js';
import { startTestNode, type TestNode } from './helpers/running-node.js';

/** A request per route that passes schema validation, so that only authorization decides. */
const REQUESTS: Record<string, { path?: string; json?: unknown; allowed: number }> = {
  'POST /api/v1/certificates': { json: { csr: 'not a CSR', profile: 'server' }, allowed: 400 },
  'GET /api/v1/certificates': { allowed: 200 },
  'GET /api/v1/certificates/export': { path: '/api/v1/certificates/export?format=ndjson', allowed: 200 },
  'GET /api/v1/certificates/{serial}': { path: '/api/v1/certificates/abababababababab', allowed: 404 },
  'POST /api/v1/certificates/{serial}/revoke': { path: '/api/v1/certificates/abababababababab/revoke', json: { reason: 'keyCompromise' }, allowed: 404 },
  'POST /api/v1/ssh/certificates': { json: { publicKey: 'not a key', type: 'user', profile: 'none', principals: ['a'] }, allowed: 400 },
  'GET /api/v1/ssh/certificates': { allowed: 200 },
  'GET /api/v1/ssh/certificates/{serial}': { path: '/api/v1/ssh/certificates/123', allowed: 404 },
  'POST /api/v1/ssh/certificates/{serial}/revoke': { path: '/api/v1/ssh/certificates/123/revoke', json: {}, allowed: 404 },
  'GET /api/v1/ssh/cas': { allowed: 200 },
  'POST /api/v1/tokens': { json: { name: 'matrix', role: 'auditor' }, allowed: 201 },
  'POST /api/v1/tokens/{id}/rotate': { path: '/api/v1/tokens/000000000000/rotate', json: { graceSeconds: 0 }, allowed: 404 },
  'POST /api/v1/operators': { json: { name: 'taken', role: 'auditor' }, allowed: 409 },
  'GET /api/v1/operators': { allowed: 200 },
  'DELETE /api/v1/operators/{name}': { path: '/api/v1/operators/nobody', allowed: 404 },
  'POST /api/v1/operators/{name}/tokens': { path: '/api/v1/operators/nobody/tokens', json: {}, allowed: 404 },
  'GET /api/v1/issuers': { allowed: 200 },
  'GET /api/v1/audit/verify': { allowed: 200 },
  'GET /api/v1/audit': { path: '/api/v1/audit?limit=5', allowed: 200 },
  // No re-issuance campaign on this node: each route answers 404 once past the permission check.
  'GET /api/v1/campaign': { path: '/api/v1/campaign', allowed: 404 },
  'GET /api/v1/campaign/items': { path: '/api/v1/campaign/items', allowed: 404 },
  'POST /api/v1/campaign/items/{serial}/reissue': { path: '/api/v1/campaign/items/abababababababab/reissue', json: {}, allowed: 404 },
  'POST /api/v1/campaign/finish': { path: '/api/v1/campaign/finish', json: {}, allowed: 404 },
  'GET /api/v1/drills': { allowed: 200 },
  'GET /api/v1/backups': { allowed: 200 },
  'GET /api/v1/metrics/history': { allowed: 200 },
  'POST /api/v1/crl/generate': { allowed: 200 },
  'GET /api/v1/cluster': { allowed: 200 },
  'GET /api/v1/whoami': { allowed: 200 },
  'POST /api/v1/acme/eab': { json: { description: 'matrix' }, allowed: 201 },
  'GET /api/v1/acme/eab': { allowed: 200 },
  'DELETE /api/v1/acme/eab/{kid}': { path: '/api/v1/acme/eab/no-such-kid', allowed: 404 },
  // EST enrollment: the token is checked first, then the label, then the media type (JSON is not application/pkcs10).
  'POST /.well-known/est/simpleenroll': { json: { csr: 'x' }, allowed: 415 },
  'POST /.well-known/est/{label}/simpleenroll': { path: '/.well-known/est/no-such-label/simpleenroll', json: {}, allowed: 404 },
};

/** Routes not authenticated by a bearer token: public, ACME (JWS), EST re-enrollment (the TLS client certificate). */
const NOT_TOKEN = new Set(['public', 'acme-jws', 'est-mtls']);

describe('permission matrix: every route with every role', { timeout: 180_000 }, () => {
  let node: TestNode;
  let ca: string;
  const tokens = new Map<TokenRole, string>();

  before(async () => {
    // The walk makes dozens of deliberately failed logins from one address: the failed-login limit
    // (src/http/limits/, tested in test/overload.test.ts) would answer them 429 before authorization.
    node = await startTestNode({ prefix: 'rampart-matrix-', env: { RAMPART_LIMITS__API__AUTH_FAILURES_PER_IP__BURST: '1000' } });
    ca = node.ca;
    assert.equal((await call(`${node.httpsUrl}/api/v1/operators`, { token: node.adminToken!, ca, json: { name: 'taken', role: 'auditor' } })).status, 201);
    for (const role of TOKEN_ROLES) {
      const r = await call(`${node.httpsUrl}/api/v1/tokens`, { token: node.adminToken!, ca, json: { name: `matrix-${role}`, role } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      tokens.set(role, r.body.token);
    }
  });
  after(async () => {
    await node?.close();
  });

  it('the table lists exactly the routes the node serves', async () => {
    const doc = (await call(`${node.httpsUrl}/openapi.json`, { ca })).body as { paths: Record<string, Record<string, unknown>> };
    const served = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
    assert.deepEqual(served, Object.keys(ROUTE_ACCESS).sort());
    for (const [route, access] of Object.entries(ROUTE_ACCESS)) {
      if (!NOT_TOKEN.has(access)) assert.ok(REQUESTS[route], `a request for ${route} in this test`);
    }
  });

  it('token routes: 401 without or with a made-up token, else allow or 403 exactly as the matrix says; denials audited', async () => {
    let denied = 0;
    let mutationsAudited = 0;
    const withDb = <T>(fn: (db: Database.Database) => T): T => {
      const db = new Database(join(node.dataDir, 'rampart.db'), { readonly: true, fileMustExist: true });
      try { return fn(db); } finally { db.close(); }
    };
    const lastSeq = (): number => withDb((db) => (db.prepare('SELECT coalesce(max(seq), 0) AS s FROM audit_log').get() as { s: number }).s);
    const auditedSince = (seq: number, actor: string): number => withDb((db) =>
      (db.prepare("SELECT count(*) AS n FROM audit_log WHERE seq > ? AND actor = ? AND outcome = 'success'").get(seq, actor) as { n: number }).n);
    for (const [route, access] of Object.entries(ROUTE_ACCESS)) {
      if (access === 'public' || access === 'acme-jws' || access === 'est-mtls') continue;
      const [method, template] = route.split(' ') as [string, string];
      const rq = REQUESTS[route]!;
      const url = `${node.httpsUrl}${rq.path ?? template}`;
      const opts = { ca, method, ...(rq.json !== undefined ? { json: rq.json } : {}) };
      assert.equal((await call(url, opts)).status, 401, `${route} without a token`);
      assert.equal((await call(url, { ...opts, token: `rmp_000000000000_${'A'.repeat(32)}` })).status, 401, `${route} with a made-up token`);
      for (const role of TOKEN_ROLES) {
        const seqBefore = method === 'GET' ? 0 : lastSeq();
        const r = await call(url, { ...opts, token: tokens.get(role)! });
        if (PERMISSIONS[role].includes(access)) {
          assert.equal(r.status, rq.allowed, `${role} on ${route}: ${JSON.stringify(r.body)}`);
          if (method !== 'GET' && r.status < 300) {
            // Every mutating action that succeeded is in the audit log, with its actor.
            const actor = `token:${tokens.get(role)!.split('_')[1]}`;
            const n = auditedSince(seqBefore, actor);
            assert.ok(n > 0, `${role} on ${route} (${r.status}) left no audit entry by ${actor}`);
            mutationsAudited++;
          }
        } else {
          assert.equal(r.status, 403, `${role} on ${route} must be refused: ${JSON.stringify(r.body)}`);
          assert.equal(r.body.type, 'urn:rampart:error:forbidden');
          denied++;
        }
      }
    }
    assert.ok(denied > 20, `the walk saw denials (${denied})`);
    assert.ok(mutationsAudited >= 3, `successful mutations were checked for audit entries (${mutationsAudited})`);
    const tokenRoutes = Object.values(ROUTE_ACCESS).filter((a) => !NOT_TOKEN.has(a)).length;
    const db = new Database(join(node.dataDir, 'rampart.db'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare("SELECT actor, source, channel, target, outcome FROM audit_log WHERE action = 'auth.permission'").all() as Array<Record<string, string>>;
      assert.equal(rows.length, denied, 'every denied attempt is audited');
      for (const r of rows) {
        assert.match(r.actor!, /^token:[0-9a-f]{12}$/);
        assert.equal(r.source, '127.0.0.1');
        assert.ok(r.channel === 'api' || (r.channel === 'est' && r.target === 'cert.issue'), `channel ${r.channel}`);
        assert.equal(r.outcome, 'denied');
      }
      const anon = db.prepare("SELECT json_extract(details, '$.reason') AS reason, count(*) AS n FROM audit_log WHERE action = 'auth.token' AND outcome = 'denied' AND actor = 'anonymous' AND source = '127.0.0.1' GROUP BY 1").all() as Array<{ reason: string; n: number }>;
      const byReason = Object.fromEntries(anon.map((r) => [r.reason, r.n]));
      assert.ok((byReason['no credentials'] ?? 0) >= tokenRoutes, `requests without a token are audited: ${JSON.stringify(byReason)}`);
      assert.ok((byReason['invalid, expired or revoked token'] ?? 0) >= tokenRoutes, `made-up tokens are audited: ${JSON.stringify(byReason)}`);
    } finally {
      db.close();
    }
  });

  it('public and ACME routes never ask for a token; EST re-enrollment takes no token, only a client certificate', async () => {
    for (const [route, access] of Object.entries(ROUTE_ACCESS)) {
      if (!NOT_TOKEN.has(access)) continue;
      const [method, template] = route.split(' ') as [string, string];
      const path = template.replace(/\{[^}]+\}/g, 'x');
      const r = await call(`${node.httpsUrl}${path}`, { ca, method, ...(method === 'POST' ? { body: Buffer.from('{}'), headers: { 'content-type': 'application/jose+json' } } : {}) });
      assert.ok(r.status < 500, `${route}: ${r.status}`);
      if (access === 'public') assert.ok(r.status < 400 || route.includes('renewal-info') || (route.includes('{label}') && r.status === 404), `${route} is public: ${r.status}`);
      else if (access === 'est-mtls') {
        assert.equal(r.status, 401, `${route} without a client certificate`);
        const withToken = await call(`${node.httpsUrl}${path}`, { ca, method, token: tokens.get('admin')!, body: Buffer.from('x'), headers: { 'content-type': 'application/pkcs10' } });
        assert.equal(withToken.status, 401, `${route} is authenticated by the client certificate, never by a token`);
      } else assert.notEqual(r.status, 401, `${route} is authenticated by JWS, not by a bearer token`);
    }
  });
});
