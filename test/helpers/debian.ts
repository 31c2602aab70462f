/**
 * Makes sure a command a test needs is installed, on Debian. When it is
 * missing and we run as root, the Debian package that provides it is
 * installed with apt-get (one `apt-get update` per process); when we are not
 * root, the test fails with an error naming the exact package to install.
 * Tests never skip for a missing tool: a skipped test proves nothing.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

let aptUpdated = false;

export interface RequireCommandOptions {
  /**
   * Extra directories to search after $PATH, e.g. '/usr/sbin' or
   * '/usr/lib/postgresql/*\/bin'. One path segment may be '*': it matches
   * every entry there, highest version first (so 16 before 15 before 9.6).
   */
  dirs?: string[];
}

const isExecutable = (p: string): boolean => {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** Compares "15", "9.6", "v2-rc1": numeric runs as numbers, higher first. */
function versionDesc(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x === y) continue;
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) return ny - nx;
    return y.localeCompare(x);
  }
  return 0;
}

/** Expands one '*' segment of a directory pattern; returns existing directories, best first. */
export function expandDir(pattern: string): string[] {
  const segs = pattern.split('/');
  const star = segs.indexOf('*');
  if (star < 0) return [pattern];
  const parent = segs.slice(0, star).join('/') || '/';
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  return names.sort(versionDesc).flatMap((n) => expandDir([...segs.slice(0, star), n, ...segs.slice(star + 1)].join('/')));
}

/** Absolute path of `cmd` (a name, or an absolute path), or null when it is not installed. */
export function findCommand(cmd: string, opts: RequireCommandOptions = {}): string | null {
  if (cmd.includes('/')) return isExecutable(cmd) ? cmd : null;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...(opts.dirs ?? []).flatMap(expandDir)];
  for (const dir of dirs) {
    const p = join(dir, cmd);
    if (isExecutable(p)) return p;
  }
  return null;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 15 * 60_000,
  });
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}):\n${out}`);
  }
}

/** Installs Debian packages with apt-get (as root), updating the package lists once per process. */
export function installDebianPackages(packages: string[]): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(`not root: install the Debian package(s) ${packages.join(' ')} (sudo apt-get install -y ${packages.join(' ')})`);
  }
  if (!aptUpdated) {
    run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update']);
    aptUpdated = true;
  }
  // Test files run two at a time: wait for another process's apt-get rather than failing on the lock.
  run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...packages]);
}

/**
 * Returns the absolute path of `cmd`, installing `debianPackage` first when it
 * is missing and we are root. Throws (never skips) when it cannot.
 */
export function requireCommand(cmd: string, debianPackage: string, opts: RequireCommandOptions = {}): string {
  const found = findCommand(cmd, opts);
  if (found) return found;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(`required command "${cmd}" is missing: install the Debian package ${debianPackage} (sudo apt-get install -y ${debianPackage})`);
  }
  installDebianPackages([debianPackage]);
  const after = findCommand(cmd, opts);
  if (!after) throw new Error(`installed the Debian package ${debianPackage}, but "${cmd}" is still not found`);
  return after;
}
