/**
 * Progress of long commands (src/cli/progress-view.ts): `rampart backup
 * create`, `rampart restore` and `rampart drill run` on a data directory
 * grown by ~150 MiB, driven under a pseudo-terminal with util-linux `script`
 * (the bar moves: several distinct percentages and byte counts, an ETA, the
 * result after it), through pipes (stdout holds only the result, stderr no
 * bar) and with --json (stdout one JSON document, stderr JSON lines of
 * progress events: bytes for backup and restore, steps for a drill).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { loadConfig, resolvedPaths } from '../src/config/load.js';
import { requireCommand } from './helpers/debian.js';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';

const dir = tempDir('rampart-cli-progress-');
const cfgFile = join(dir, 'rampart.yaml');
const src = join(dir, 'src');
const ENV = { ...process.env, RAMPART_KEY_PASSPHRASE: 'node-key-passphrase-0123', RAMPART_BACKUP_PASSPHRASE: 'backup-passphrase-0123', RAMPART_CONFIG: cfgFile, RAMPART_LOG__LEVEL: 'warn' };
const ROWS = 2400; // × 64 KiB = 150 MiB

interface Run { code: number; stdout: string; stderr: string }

function run(argv: string[], timeoutMs = 300_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => { clearTimeout(kill); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

const rampart = (dataDir: string, args: string[]) => [process.execPath, RAMPART_BIN, '--data-dir', dataDir, ...args];
const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
/** Under a pseudo-terminal: stdout and stderr both reach the terminal `script` records (its stdout here). */
const underPty = (argv: string[]) => run([requireCommand('script', 'bsdutils'), '-qfec', argv.map(quote).join(' '), '/dev/null']);
/** The screen's text: every escape sequence (cursor moves, erase) becomes a line break. */
const screen = (raw: string) => raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '\n').replace(/\r/g, '\n').split('\n').map((l) => l.trim()).filter(Boolean);
const percentages = (lines: string[], phase: string) => new Set(lines.filter((l) => l.startsWith(`${phase} |`)).map((l) => Number(/\|\s*(\d+)% \|/.exec(l)?.[1])));
const jsonLines = (text: string) => text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

describe('progress of long commands: a bar on a terminal, JSON lines with --json, nothing else on stdout', { timeout: 900_000 }, () => {
  let backupId = '';

  before(() => {
    writeFileSync(cfgFile, `backup:\n  targets:\n    - { type: directory, name: offsite, path: ${join(dir, 'offsite')} }\n`);
    const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', src, '--json', 'init'], { encoding: 'utf8', env: ENV, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const db = new Database(resolvedPaths(loadConfig({ env: {}, overrides: { dataDir: src } })).dbPath);
    db.exec('CREATE TABLE bulk_test (id INTEGER PRIMARY KEY, b BLOB NOT NULL)');
    db.exec(`INSERT INTO bulk_test (b) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${ROWS}) SELECT randomblob(65536) FROM n`);
    db.close();
  });
  after(() => removeDir(dir));

  it('backup create on a terminal: the bar moves through snapshot and upload with counts and ETA, then the result', async () => {
    const r = await underPty(rampart(src, ['backup', 'create']));
    assert.equal(r.code, 0, r.stdout);
    const lines = screen(r.stdout);
    const upload = percentages(lines, 'upload');
    assert.ok(upload.size >= 3, `the upload bar moved: ${[...upload].join(', ')}\n${lines.join('\n')}`);
    assert.ok(upload.has(100));
    assert.ok(percentages(lines, 'snapshot').has(100));
    const counts = new Set(lines.filter((l) => l.startsWith('upload |')).map((l) => /\| ([\d.]+) MiB \/ 15\d\.\d MiB at/.exec(l)?.[1]).filter(Boolean));
    assert.ok(counts.size >= 3, `byte counts of the total: ${[...counts].join(', ')}`);
    assert.ok(lines.some((l) => /^upload \|.*\| ETA \d+:\d\d$/.test(l)), 'an ETA while running');
    assert.ok(lines.some((l) => /^upload \|.*100% \|.*\| ETA done$/.test(l)), 'the finished bar stays');
    assert.match(lines.at(-2)!, /^Backup \S+: 15\d\.\d\d MiB in \d+ ms/, 'the result after the bar');
    assert.equal(lines.at(-1), 'offsite: written');
  });

  it('backup create through pipes: stdout only the result, no bar on stderr; --json: one JSON result, JSON-lines progress', async () => {
    const plain = await run(rampart(src, ['backup', 'create']));
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^Backup \S+: [\d.]+ MiB in \d+ ms, \d+ certificates \(\d+ revoked\), \d+ audit entries\n {2}offsite: written\n$/);
    assert.equal(plain.stderr, '', 'no bar and no progress when stderr is not a terminal');

    const json = await run(rampart(src, ['--json', 'backup', 'create']));
    assert.equal(json.code, 0, json.stderr);
    const result = JSON.parse(json.stdout);
    assert.equal(result.ok, true);
    backupId = result.id;
    const events = jsonLines(json.stderr).map((l) => l.progress);
    assert.ok(events.length >= 2 && events.every((p) => p && typeof p.phase === 'string' && typeof p.bytes === 'number' && typeof p.done === 'boolean'), json.stderr);
    const up = events.find((p) => p.phase === 'upload' && p.done);
    assert.ok(up && up.bytes === up.total && up.total > ROWS * 65536, json.stderr);
    assert.ok(events.some((p) => p.phase === 'snapshot' && p.done), json.stderr);
  });

  it('restore on a terminal: the download bar moves; --json through pipes gives JSON lines', async () => {
    const r = await underPty(rampart(join(dir, 'restored-tty'), ['restore', '--backup', backupId]));
    assert.equal(r.code, 0, r.stdout);
    const lines = screen(r.stdout);
    const down = percentages(lines, 'download');
    assert.ok(down.size >= 3 && down.has(100), `the download bar moved: ${[...down].join(', ')}\n${lines.join('\n')}`);
    assert.ok(lines.some((l) => l.startsWith(`Restored backup ${backupId}`)), lines.join('\n'));

    const json = await run(rampart(join(dir, 'restored-json'), ['--json', 'restore', '--backup', backupId]));
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).id, backupId);
    const events = jsonLines(json.stderr).map((l) => l.progress);
    assert.ok(events.some((p) => p.phase === 'download' && p.done && p.bytes === p.total), json.stderr);
  });

  it('drill run: step events with --json, then a bar of steps against the last run on a terminal', async () => {
    const json = await run(rampart(src, ['--json', 'drill', 'run', 'restore-latest']));
    assert.equal(json.code, 0, `${json.stderr}\n${json.stdout.slice(0, 2000)}`);
    const result = JSON.parse(json.stdout);
    assert.equal(result.outcome, 'passed');
    const events = jsonLines(json.stderr).map((l) => l.progress);
    const counts = events.map((p) => p.steps);
    assert.ok(events.every((p) => p.phase === 'drill restore-latest' && typeof p.step === 'string'), json.stderr);
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b), 'steps only increase');
    assert.equal(events.at(-1).done, true);
    assert.equal(events.at(-1).steps, result.steps.length);
    assert.equal(events.at(-1).total, result.steps.length);

    const tty = await underPty(rampart(src, ['drill', 'run', 'restore-latest']));
    assert.equal(tty.code, 0, tty.stdout);
    const lines = screen(tty.stdout);
    const bars = lines.filter((l) => l.startsWith('drill restore-latest |'));
    const seen = new Set(bars.map((l) => /\| (\d+)\/\d+ steps/.exec(l)?.[1]));
    assert.ok(seen.size >= 3, `the step count moved: ${[...seen].join(', ')}\n${lines.join('\n')}`);
    assert.ok(bars.some((l) => new RegExp(`\\| \\d+/${result.steps.length} steps: .+ \\| ETA \\d+:\\d\\d$`).test(l)), `the last run's step count is the total, with an ETA:\n${bars.join('\n')}`);
    assert.ok(lines.some((l) => /^… |^ok /.test(l) || /^\S+ .*\(\d+\.\d\d s\)$/.test(l)), 'the step lines print above the bar');
  });
});
