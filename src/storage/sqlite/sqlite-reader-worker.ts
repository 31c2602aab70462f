/**
 * The SQLite inventory reader thread: its own read-only connection on the
 * database file (WAL lets it read beside the writer), answering the
 * inventory queries of sqlite-inventory.ts one message at a time.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../../core/thread-priority.js';
import { countMatches, selectRows, textBatch } from './sqlite-inventory.js';
import type { ReaderRequest, ReaderReply } from './sqlite-reader.js';
import { revokedStep, type RevokedStep } from './sqlite-revoked-scan.js';

// Inventory reads and exports give way to the thread that answers OCSP (core/thread-priority.ts).
lowerThreadPriority();
const db = new Database((workerData as { path: string }).path, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');

/** The store's own statements (op 'all'), prepared once each. */
const statements = new Map<string, Database.Statement>();
function statement(sql: string): Database.Statement {
  let s = statements.get(sql);
  if (!s) {
    s = db.prepare(sql);
    if (statements.size >= 64) statements.clear();
    statements.set(sql, s);
  }
  return s;
}

parentPort!.on('message', (m: ReaderRequest) => {
  let reply: ReaderReply;
  try {
    if (m.op === 'revoked') {
      const step: RevokedStep = revokedStep(statement, m.scan);
      // The joined entries move to the main thread without a copy (joinDer gives the buffer its own ArrayBuffer).
      parentPort!.postMessage({ id: m.id, result: step } satisfies ReaderReply, [step.der.buffer as ArrayBuffer]);
      return;
    }
    const result = m.op === 'count' ? countMatches(db, m.q)
      : m.op === 'all' ? statement(m.sql).all(...m.params)
      : m.op === 'text' ? textBatch(db, m.q, m.afterSeq, m.limit, m.fmt)
        : selectRows(db, m.q, m.afterSeq, m.limit, m.der);
    reply = { id: m.id, result };
  } catch (e) {
    const err = e as { name?: unknown; code?: unknown; message?: unknown };
    reply = { id: m.id, error: { message: String(err.message ?? e), ...(err.name === 'RampartError' ? { code: String(err.code) } : {}) } };
  }
  parentPort!.postMessage(reply);
});
