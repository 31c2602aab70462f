/**
 * Child process of test/postgres-defect-guard.test.ts (an uncaught exception
 * must not reach the test runner): installs the node's process guard, then
 * makes postgres.js write to a connection whose backend was terminated
 * (porsager/postgres#1208) and reports on stdout, as JSON, what the guard
 * did and whether the database is still usable. Arguments: the port of a
 * PostgreSQL server with role and database rampart, and the mode: 'reserve'
 * (the defect itself, through a reserved connection) or 'query', 'commit',
 * 'throw' (a transaction() whose connection dies while it waits on a timer).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { installProcessGuard } from '../../src/main/process-guard.js';
import { RampartMetrics } from '../../src/metrics/metrics.js';
import { PgPool, transaction } from '../../src/storage/postgres/pg-pool.js';

const port = Number(process.argv[2]);
const logs: Array<{ level: string; msg: string; err?: string }> = [];
const metrics = new RampartMetrics({ defaultMetrics: false });
let recycled = -1;
installProcessGuard({
  counter: metrics.unhandledErrors,
  log: {
    error: (obj: any, msg) => logs.push({ level: 'error', msg, err: obj.err?.message }),
    fatal: (obj: any, msg) => logs.push({ level: 'fatal', msg, err: obj.err?.message }),
  },
  onLibraryDefect: () => { recycled = PgPool.recycleAll(1); },
  exit: (code) => { console.log(JSON.stringify({ exited: code, logs })); process.exit(code); },
});

const pool = new PgPool({ hosts: [`127.0.0.1:${port}`], database: 'rampart', user: 'rampart', max: 3, retryForMs: 10_000 });
const before = pool.generation;
const mode = process.argv[3] ?? 'reserve';
const counts = async () => Object.fromEntries((await metrics.unhandledErrors.get()).values.map((v) => [v.labels.kind, v.value]));

if (mode !== 'reserve') {
  // transaction(): the connection is terminated while the callback waits on a timer; then the
  // callback sends a statement ('query'), returns (COMMIT: 'commit') or throws (ROLLBACK: 'throw').
  const outcome = await transaction(pool.sql, async (tx) => {
    const [{ pid }] = await tx`SELECT pg_backend_pid() AS pid`;
    await pool.run('terminate', (sql) => sql`SELECT pg_terminate_backend(${pid})`);
    await sleep(300);
    if (mode === 'query') await tx`SELECT 1`;
    if (mode === 'throw') throw new Error('something else failed');
    return 'committed';
  }).then((v) => v, (e: { code?: string; message: string }) => `rejected: ${e.code ?? e.message}`);
  await sleep(500);
  const [row] = await pool.run('after', (sql) => sql`SELECT 42 AS x`);
  console.log(JSON.stringify({ mode, outcome, counts: await counts(), logs, after: row!.x }));
  await pool.close();
  process.exit(0);
}

const reserved = await pool.sql.reserve();
const [{ pid }] = await reserved`SELECT pg_backend_pid() AS pid`;
await pool.run('terminate', (sql) => sql`SELECT pg_terminate_backend(${pid})`);
const first = await reserved`SELECT 1`.then(() => 'answered', (e: { code?: string; message: string }) => e.code ?? e.message);
// Once postgres.js has dropped the socket, this write goes nowhere.
await sleep(100);
void reserved`SELECT 2`.catch(() => undefined);
await sleep(500);
const [row] = await pool.run('after', (sql) => sql`SELECT 42 AS x`);
console.log(JSON.stringify({ first, counts: await counts(), logs, recycled, generationBefore: before, generationAfter: pool.generation, after: row!.x }));
await pool.close();
process.exit(0);
