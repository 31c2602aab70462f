/**
 * Running PostgreSQL programs: finding the binaries (--pg-bin, else the
 * newest /usr/lib/postgresql/<major>/bin, else PATH) and running server-side
 * ones as the database's OS user (runuser when we are root; PostgreSQL
 * refuses to run as root).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export function pgBinDir(explicit?: string): string | undefined {
  if (explicit) return explicit;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root).filter((d) => /^\d+$/.test(d) && existsSync(join(root, d, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
  return majors[0] ? join(root, majors[0], 'bin') : undefined;
}

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

export interface PgTools {
  bin(name: string): string;
  /** Runs a program (as osUser when root and asOsUser); resolves stdout, rejects with stderr in the message. */
  run(name: string, args: string[], o?: { asOsUser?: boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<{ stdout: string; stderr: string }>;
  /** Spawns a program as osUser (when root), for streaming stdin. */
  spawnAsOsUser(file: string, args: string[], cwd?: string): ChildProcess;
  readonly osUser: string;
}

export function pgTools(o: { binDir?: string; osUser?: string } = {}): PgTools {
  const dir = pgBinDir(o.binDir);
  const osUser = o.osUser ?? 'postgres';
  const bin = (name: string) => (dir ? join(dir, name) : name);
  const wrap = (file: string, args: string[], asOsUser: boolean): [string, string[]] =>
    asOsUser && isRoot() ? ['runuser', ['-u', osUser, '--', file, ...args]] : [file, args];
  return {
    osUser,
    bin,
    run(name, args, ro = {}) {
      const [file, argv] = wrap(bin(name), args, ro.asOsUser ?? false);
      return new Promise((resolveP, reject) => {
        execFile(file, argv, { encoding: 'utf8', timeout: ro.timeoutMs ?? 600_000, cwd: '/', maxBuffer: 16 << 20, env: ro.env ?? process.env }, (err, stdout, stderr) => {
          if (err) reject(new Error(`${name} failed: ${(stderr || err.message).trim()}`));
          else resolveP({ stdout, stderr });
        });
      });
    },
    spawnAsOsUser(file, args, cwd = '/') {
      const [f, argv] = wrap(file, args, true);
      return spawn(f, argv, { cwd, stdio: ['pipe', 'ignore', 'pipe'] });
    },
  };
}
