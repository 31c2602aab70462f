/**
 * pg_dump / pg_restore for PostgreSQL backups: finds the newest client
 * binaries (/usr/lib/postgresql/<v>/bin, then PATH), builds a libpq
 * connection string from the database settings and runs them with the
 * password in PGPASSWORD (never on the command line).
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TARGET_SESSION_ATTRS } from '../config/schema.js';

export interface PgConnection {
  hosts: string[];
  database: string;
  user: string;
  password?: string;
  targetSessionAttrs?: (typeof TARGET_SESSION_ATTRS)[number];
}

export function findPgBinary(name: 'pg_dump' | 'pg_restore'): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const p = join(base, v, 'bin', name);
      if (existsSync(p)) return p;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} not found (install the PostgreSQL client, e.g. apt-get install postgresql-client)`);
}

/** postgresql://user@h1:p1,h2:p2/db?target_session_attrs=... (no password). */
export function conninfo(c: PgConnection): string {
  const hosts = c.hosts.map((h) => h).join(',');
  const q = c.targetSessionAttrs && c.targetSessionAttrs !== 'any' ? `?target_session_attrs=${encodeURIComponent(c.targetSessionAttrs)}` : '';
  return `postgresql://${encodeURIComponent(c.user)}@${hosts}/${encodeURIComponent(c.database)}${q}`;
}

/** Parses postgres://user[:password]@host[:port][,host2[:port]]/db. */
export function parseDatabaseUrl(url: string): PgConnection {
  const m = /^postgres(?:ql)?:\/\/(?:([^:@/]+)(?::([^@/]*))?@)?([^/?]+)\/([^?]+)(?:\?.*)?$/.exec(url);
  if (!m) throw new Error('--database-url must look like postgres://user[:password]@host:port/database');
  const hosts = m[3]!.split(',').map((h) => (/:\d+$/.test(h) ? h : `${h}:5432`));
  return {
    hosts, database: decodeURIComponent(m[4]!), user: m[1] ? decodeURIComponent(m[1]) : 'rampart',
    ...(m[2] ? { password: decodeURIComponent(m[2]) } : {}), targetSessionAttrs: 'read-write',
  };
}

export function runPgTool(bin: string, args: string[], password?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env: { ...process.env, ...(password ? { PGPASSWORD: password } : {}), PGCONNECT_TIMEOUT: '10' }, maxBuffer: 16 * 1024 * 1024 }, (err, _out, stderr) => {
      if (err) reject(new Error(`${bin.split('/').pop()} failed: ${(stderr || err.message).trim().split('\n').slice(-5).join(' | ')}`));
      else resolve();
    });
  });
}

/**
 * Runs a tool reading `input` on its stdin (pg_restore of a stream: the plaintext dump never lands on
 * disk). If `input` fails, the tool is killed before its stdin ends, so it never sees a complete input
 * (pg_restore --single-transaction then commits nothing), and the input's error is thrown.
 */
export async function runPgToolWithInput(bin: string, args: string[], password: string | undefined, input: AsyncIterable<Uint8Array>): Promise<void> {
  const child = spawn(bin, args, { env: { ...process.env, ...(password ? { PGPASSWORD: password } : {}), PGCONNECT_TIMEOUT: '10' }, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { if (stderr.length < 65536) stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  const name = bin.split('/').pop();
  const failed = (code: number | null): Error => new Error(`${name} failed: ${(stderr || `exit code ${code}`).trim().split('\n').slice(-5).join(' | ')}`);
  child.stdin.on('error', () => undefined); // EPIPE when the tool stops early: its exit code says why
  try {
    for await (const piece of input) {
      if (child.exitCode !== null) break;
      if (!child.stdin.write(piece)) await Promise.race([once(child.stdin, 'drain').catch(() => undefined), exited]);
    }
  } catch (e) {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    throw e;
  }
  child.stdin.end();
  const code = await exited;
  if (code !== 0) throw failed(code);
}
