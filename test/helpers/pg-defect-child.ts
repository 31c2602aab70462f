/**
 * Child process of test/postgres-defect-guard.test.ts (an uncaught exception
 * must not reach the test runner): installs the node's process guard, then
 * makes postgres.js write to a connection whose backend was terminated
 * (porsager/postgres#1208) and reports on stdout, as JSON, what the guard
 * did and whether the database is still usable. Argument: the port of a
 * PostgreSQL server with role and database rampart.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { installProcessGuard } from '../../src/main/process-guard.js';
import { RampartMetrics } from '../../src/metrics/metrics.js';
import { PgPool } from '../../src/storage/postgres/pg-pool.js';

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
const reserved = await pool.sql.reserve();
const [{ pid }] = await reserved`SELECT pg_backend_pid() AS pid`;
await pool.run('terminate', (sql) => sql`SELECT pg_terminate_backend(${pid})`);
const first = await reserved`SELECT 1`.then(() => 'answered', (e: { code?: string; message: string }) => e.code ?? e.message);
// Once postgres.js has dropped the socket, this write goes nowhere.
await sleep(100);
void reserved`SELECT 2`.catch(() => undefined);
await sleep(500);
const [row] = await pool.run('after', (sql) => sql`SELECT 42 AS x`);
const counts = Object.fromEntries((await metrics.unhandledErrors.get()).values.map((v) => [v.labels.kind, v.value]));
console.log(JSON.stringify({ first, counts, logs, recycled, generationBefore: before, generationAfter: pool.generation, after: row!.x }));
await pool.close();
process.exit(0);
