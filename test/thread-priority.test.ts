/**
 * Background threads give way to validation (src/core/thread-priority.ts):
 * in a running node the thread that answers OCSP keeps nice 0, while the
 * WAL checkpointer, the inventory reader (searches, exports, CRL entries)
 * and the CRL encoder run at nice 10, read from /proc/<pid>/task/<tid>/stat.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';

/** nice of every thread of `pid`, by thread id (field 19 of stat; the name in parentheses may hold spaces). */
function niceByThread(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(t), Number(fields[16]));
    } catch { /* the thread ended meanwhile */ }
  }
  return out;
}

describe('background threads run at a lower CPU priority than the thread that answers OCSP', () => {
  let node: NodeProcess;
  let dir: string;
  before(async () => {
    dir = tempDir('rampart-nice-');
    node = await startNode({ dataDir: dir });
  });
  after(async () => {
    await node?.stop();
    if (dir) removeDir(dir);
  });

  it('main thread nice 0; checkpointer, inventory reader and CRL encoder nice 10', async () => {
    const pid = node.child.pid!;
    const ca = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
    // An inventory page starts the reader thread.
    const page = await call(`${node.httpsUrl}/api/v1/certificates?name=example&limit=5`, { token: node.adminToken!, ca });
    assert.equal(page.status, 200, page.raw.toString('utf8'));
    const nice = niceByThread(pid);
    assert.equal(nice.get(pid), 0, 'the main thread (OCSP, CRLs, API) keeps the default priority');
    // The node builds its CRLs at start: the CRL encoder thread exists by now.
    const issuers = (await call(`${node.httpsUrl}/api/v1/issuers`, { token: node.adminToken!, ca })).body.items as Array<{ id: string; kind: string; active: boolean }>;
    const active = issuers.find((i) => i.kind === 'intermediate' && i.active)!;
    assert.equal((await call(`${node.httpUrl}/crl/${encodeURIComponent(active.id)}.crl`)).status, 200);
    const lowered = [...niceByThread(pid).values()].filter((n) => n === 10).length;
    assert.ok(lowered >= 3, `at least the checkpointer, the reader and the CRL encoder at nice 10: ${JSON.stringify(Object.fromEntries(niceByThread(pid)))}`);
    assert.ok([...nice.values()].some((n) => n === 0 && nice.size > 1), 'other threads (PKI workers, libuv) keep theirs');
  });
});
