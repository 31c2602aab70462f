/**
 * The isolated environment of one drill run: its own temporary directory,
 * the processes it started and the clean-up to do afterwards, in reverse
 * order. Nothing in here touches the operator's node: every path is under
 * the work directory and every server listens on a free loopback port.
 *
 * teardown() runs on success, failure and Ctrl-C (the runner calls it from
 * its signal handler); a synchronous safety net at process exit SIGKILLs
 * whatever is still tracked and removes the directory.
 */
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Cleanup = { label: string; fn: () => Promise<void> | void };

const live = new Set<DrillEnvironment>();
process.once('exit', () => {
  for (const env of live) env.killAllSync();
});

export class DrillEnvironment {
  readonly workDir: string;
  private readonly cleanups: Cleanup[] = [];
  private readonly pids = new Set<number>();
  private readonly pgDirs = new Set<string>();
  private tornDown = false;
  readonly teardownErrors: string[] = [];

  constructor(scenario: string) {
    this.workDir = mkdtempSync(join(tmpdir(), `rampart-drill-${scenario}-`));
    live.add(this);
  }

  /** A fresh subdirectory of the work directory. */
  dir(name: string, opts: { owner?: { uid: number; gid: number } } = {}): string {
    const d = mkdtempSync(join(this.workDir, `${name}-`));
    if (opts.owner) chownSync(d, opts.owner.uid, opts.owner.gid);
    return d;
  }

  /** Registers clean-up work; run last-in first-out by teardown(). */
  defer(label: string, fn: () => Promise<void> | void): void {
    this.cleanups.push({ label, fn });
  }

  trackPid(pid: number): void { this.pids.add(pid); }
  untrackPid(pid: number): void { this.pids.delete(pid); }
  /** A PostgreSQL data directory whose postmaster must die with the drill. */
  trackPostgres(dataDir: string): void { this.pgDirs.add(dataDir); }

  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    for (const c of this.cleanups.reverse()) {
      try {
        await c.fn();
      } catch (e) {
        this.teardownErrors.push(`${c.label}: ${(e as Error).message}`);
      }
    }
    this.killAllSync();
  }

  /** Last resort (exit, second Ctrl-C): SIGKILL tracked processes, SIGQUIT postmasters, remove the directory. */
  killAllSync(): void {
    for (const pid of this.pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    this.pids.clear();
    for (const dir of this.pgDirs) {
      const pid = postmasterPid(dir);
      if (pid !== null) { try { process.kill(pid, 'SIGQUIT'); } catch { /* gone */ } }
    }
    this.pgDirs.clear();
    try { rmSync(this.workDir, { recursive: true, force: true }); } catch { /* best effort */ }
    live.delete(this);
  }
}

export function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
