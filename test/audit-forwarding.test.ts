/**
 * Audit forwarding and chain verification, end to end: a real node forwards
 * its audit table to a JSON-lines file and to two real rsyslogd servers (RFC
 * 5424 over TCP with octet counting, and over UDP) on loopback ports, each
 * writing the raw messages it received to a file. REST actions (issue,
 * revoke, a refused token, a refused profile with `"`, `]`, `\` and a
 * non-ASCII letter in its name) must all arrive, in seq order, with the
 * database's fields; the TCP server is stopped and started again and nothing
 * is lost; an audit row changed in the SQLite file makes /readyz report
 * `auditChain` failing with that seq. Unit checks of the message format and
 * of the incremental chain verifier come first.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { call } from './helpers/api-client.js';
import { requireCommand } from './helpers/debian.js';
import { removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';
import { makeCsr } from './helpers/openssl.js';
import { freePort } from './helpers/ports.js';
import { escapeSdValue, formatSyslog } from '../src/audit/forward/syslog-format.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { ChainVerifier, type ChainVerification } from '../src/audit/chain-verifier.js';
import type { AuditEntry } from '../src/core/types.js';
import type { AuditStore } from '../src/storage/store.js';

// ---------------------------------------------------------------- RFC 5424 parsing (independent of the formatter)

interface Syslog5424 { pri: number; version: number; timestamp: string; hostname: string; appName: string; procId: string; msgId: string; sd: Record<string, Record<string, string>>; msg: string }

function parse5424(line: string): Syslog5424 {
  const m = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(line);
  assert.ok(m, `not an RFC 5424 header: ${line.slice(0, 120)}`);
  for (const [i, max] of [[4, 255], [5, 48], [6, 128], [7, 32]] as const) {
    assert.ok(m[i]!.length <= max && /^[\x21-\x7e]+$/.test(m[i]!), `header field ${i} must be 1..${max} PRINTUSASCII: ${m[i]}`);
  }
  assert.match(m[3]!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/, 'TIMESTAMP');
  let at = m[0].length;
  const sd: Syslog5424['sd'] = {};
  if (line[at] === '-') at++;
  else {
    while (line[at] === '[') {
      const id = /^[^ =\]"]{1,32}/.exec(line.slice(at + 1));
      assert.ok(id, 'SD-ID');
      at += 1 + id[0].length;
      const params: Record<string, string> = {};
      while (line[at] === ' ') {
        const name = /^([^ =\]"]{1,32})="/.exec(line.slice(at + 1));
        assert.ok(name, `SD-PARAM at ${at}: ${line.slice(at, at + 40)}`);
        at += 1 + name[0].length;
        let v = '';
        for (;;) {
          const c = line[at++];
          assert.ok(c !== undefined, 'unterminated PARAM-VALUE');
          if (c === '\\' && ['"', '\\', ']'].includes(line[at]!)) { v += line[at++]; continue; }
          assert.ok(c !== ']' , 'unescaped ] in a PARAM-VALUE');
          if (c === '"') break;
          v += c;
        }
        params[name[1]!] = v;
      }
      assert.equal(line[at], ']', 'SD-ELEMENT must end with ]');
      at++;
      sd[id[0]] = params;
    }
  }
  let msg = '';
  if (at < line.length) {
    assert.equal(line[at], ' ', 'SP before MSG');
    msg = line.slice(at + 1);
  }
  return { pri: Number(m[1]), version: Number(m[2]), timestamp: m[3]!, hostname: m[4]!, appName: m[5]!, procId: m[6]!, msgId: m[7]!, sd, msg };
}

const FACILITY = { authpriv: 10, local0: 16 };
const severity = (outcome: string): number => (outcome === 'success' ? 5 : 4);

describe('syslog message format', () => {
  const entry = (over: Partial<AuditEntry> = {}): AuditEntry => ({
    seq: 7, time: new Date('2030-01-02T03:04:05.678Z'), actor: 'token:a"b', source: '10.0.0.1', channel: 'api', action: 'certificate.issue',
    target: 'profile:x]y\\z', outcome: 'denied', details: { note: 'caf\u00e9 \u2028', big: 'x'.repeat(5000) }, prevHash: 'a'.repeat(64), hash: 'b'.repeat(64), ...over,
  });
  const ctx = { node: 'n1', ca: 'CN=Issuing' };

  it('escapes ", \\ and ] in PARAM-VALUEs and nothing else', () => {
    assert.equal(escapeSdValue('a"b\\c]d[e=f'), 'a\\"b\\\\c\\]d[e=f');
  });

  it('truncates only the MSG to the size limit, keeps header and SD, and sends ASCII JSON', () => {
    const buf = formatSyslog(entry(), { facility: 16, hostname: 'host', maxBytes: 2048, bom: false, context: ctx });
    assert.equal(buf.length, 2048);
    const p = parse5424(buf.toString('latin1'));
    assert.equal(p.pri, 16 * 8 + 4);
    assert.equal(p.msgId, 'certificate.issue');
    assert.deepEqual(p.sd['rampart@32473'], { seq: '7', actor: 'token:a"b', source: '10.0.0.1', channel: 'api', target: 'profile:x]y\\z', outcome: 'denied' });
    assert.ok(/^[\x20-\x7e]*$/.test(p.msg), 'MSG is plain ASCII');
    const full = formatSyslog(entry(), { facility: 16, hostname: 'host', maxBytes: 65536, bom: false, context: ctx });
    const whole = parse5424(full.toString('latin1')).msg;
    assert.ok(whole.startsWith(p.msg));
    assert.equal(JSON.parse(whole).details.note, 'caf\u00e9 \u2028');
    const bom = formatSyslog(entry({ details: {} }), { facility: 16, hostname: 'host', maxBytes: 2048, bom: true, context: ctx });
    assert.ok(bom.includes(Buffer.from([0x20, 0xef, 0xbb, 0xbf, 0x7b])), 'BOM right before the JSON');
  });
});

describe('chain verifier', () => {
  const clock = { now: () => new Date('2030-01-01T00:00:00Z') };
  const make = () => {
    const entries: AuditEntry[] = [];
    const store = {
      async appendAudit(build: (prev: { seq: number; hash: string } | null) => AuditEntry) { const e = build(entries.at(-1) ?? null); entries.push(e); return e; },
      async *iterateAudit() { yield* entries.map((e) => ({ ...e })); },
      async lastAudit() { return entries.at(-1) ?? null; },
    };
    const log = new AuditLog({ store: store as unknown as AuditStore, clock });
    const add = async (n: number) => { for (let i = 0; i < n; i++) await log.record({ actor: 'a', source: 's', channel: 'api', action: 'x', target: 't', outcome: 'success', details: { i } }); };
    return { entries, store, add };
  };

  it('hashes only new entries between full runs, and catches a changed, rewritten or removed tail', async () => {
    const { entries, store, add } = make();
    const v = new ChainVerifier({ store, clock, everyMs: 1, fullEveryRuns: 3 });
    await add(5);
    assert.deepEqual(pick(await v.verify()), { ok: true, mode: 'full', checked: 5, headSeq: 5 });
    await add(2);
    assert.deepEqual(pick(await v.verify()), { ok: true, mode: 'incremental', checked: 2, headSeq: 7 });
    assert.deepEqual(pick(await v.verify()), { ok: true, mode: 'incremental', checked: 0, headSeq: 7 });
    // A changed old entry escapes incremental runs and is caught by the next full one.
    entries[1]!.details = { i: 99 };
    assert.deepEqual(pick(await v.verify()), { ok: false, mode: 'full', checked: 2, headSeq: 1 });
    assert.match(v.state().result!.problem!.reason, /content does not match its hash/);
    assert.equal(v.state().result!.problem!.seq, 2);
    assert.equal((await v.verify()).mode, 'full', 'after a failure every run is full');
    entries[1]!.details = { i: 1 };
    assert.equal((await v.verify()).ok, true);
    // The newest entries removed: a valid chain on its own, but shorter than what was verified.
    entries.splice(5);
    const cut = await v.verify();
    assert.equal(cut.ok, false);
    assert.equal(cut.problem!.seq, 7);
    assert.match(cut.problem!.reason, /newest entries were removed/);
    // A fresh verifier (a restart) takes the chain as it is.
    const fresh = new ChainVerifier({ store, clock, everyMs: 1, fullEveryRuns: 3 });
    assert.equal((await fresh.verify()).ok, true);
    await add(1);
    assert.equal((await fresh.verify()).mode, 'incremental');
    // The tail rewritten with valid hashes (recomputed from seq 5 on).
    entries.splice(4);
    await add(2);
    const re = await fresh.verify();
    assert.equal(re.ok, false);
    assert.equal(re.problem!.seq, 6);
    assert.match(re.problem!.reason, /no longer has the hash/);
  });

  const pick = (r: ChainVerification) => ({ ok: r.ok, mode: r.mode, checked: r.checked, headSeq: r.headSeq });
});

// ---------------------------------------------------------------- real rsyslogd servers

interface Rsyslog { log: string; port: number; start(): Promise<void>; stop(): Promise<void> }

const PROBE = 'rampart-test-probe';

function rsyslog(dir: string, kind: 'tcp' | 'udp', port: number, bin: string): Rsyslog {
  const work = join(dir, `rsyslog-${kind}`);
  mkdirSync(work, { recursive: true });
  const log = join(work, 'received.log');
  const conf = join(work, 'rsyslog.conf');
  writeFileSync(conf, [
    `global(workDirectory="${work}" maxMessageSize="64k")`,
    `module(load="im${kind}")`,
    'template(name="raw" type="string" string="%rawmsg%\\n")',
    `ruleset(name="out") { action(type="omfile" file="${log}" template="raw") }`,
    `input(type="im${kind}" address="127.0.0.1" port="${port}" ruleset="out")`,
    '',
  ].join('\n'));
  let child: ChildProcess | null = null;
  let out = '';
  const probe = async (): Promise<void> => {
    const msg = Buffer.from(`<134>1 - - - - - - ${PROBE}`);
    if (kind === 'udp') {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.send(msg, port, '127.0.0.1', () => r()));
      s.close();
      return;
    }
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.end(Buffer.concat([Buffer.from(`${msg.length} `), msg]), () => resolve()));
      s.on('error', () => resolve());
    });
  };
  return {
    log,
    port,
    async start() {
      const before = existsSync(log) ? readFileSync(log, 'utf8').split(PROBE).length : 1;
      child = spawn(bin, ['-n', '-f', conf, '-i', join(work, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      const deadline = Date.now() + 20_000;
      // Ready when a probe sent to it is in its output file.
      while (!existsSync(log) || readFileSync(log, 'utf8').split(PROBE).length <= before) {
        if (child.exitCode !== null) throw new Error(`rsyslogd (${kind}) exited ${child.exitCode}: ${out}`);
        if (Date.now() > deadline) throw new Error(`rsyslogd (${kind}) did not receive a probe: ${out}`);
        await probe();
        await sleep(300);
      }
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const done = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------- the node

interface Row { seq: number; time: number; actor: string; source: string; channel: string; action: string; target: string; outcome: string; details: string; prev_hash: string; hash: string }

describe('audit forwarding to a JSON-lines file and to rsyslogd over TCP and UDP', () => {
  let dir: string;
  let node: NodeProcess;
  let token: string;
  let ca: string;
  let tcp: Rsyslog;
  let udp: Rsyslog;
  let jsonl: string;
  const weirdProfile = 'caf\u00e9"]\\x';

  const rows = (): Row[] => {
    const db = new Database(join(node.dataDir, 'rampart.db'), { readonly: true });
    try { return db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Row[]; } finally { db.close(); }
  };
  const expected = (r: Row) => ({
    seq: r.seq, time: new Date(r.time).toISOString(), actor: r.actor, source: r.source, channel: r.channel, action: r.action,
    target: r.target, outcome: r.outcome, details: JSON.parse(r.details), hash: r.hash, prevHash: r.prev_hash,
  });
  const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.includes(PROBE)) : []);
  const fileRecords = () => lines(jsonl).map((l) => JSON.parse(l) as ReturnType<typeof expected> & { rampart: { node: string; ca: string } });
  const syslogRecords = (r: Rsyslog) => lines(r.log).map((l) => ({ raw: l, p: parse5424(l) }));
  /** Seqs in arrival order with repeats of a resent batch removed (delivery is at least once). */
  const firstSeen = (seqs: number[]): number[] => seqs.filter((s, i) => seqs.indexOf(s) === i);
  const allArrived = async (head: number) => waitFor(`entries up to ${head} in every destination`, () => {
    const f = fileRecords().map((r) => r.seq);
    const t = syslogRecords(tcp).map((r) => Number(r.p.sd['rampart@32473']!.seq));
    const u = syslogRecords(udp).map((r) => Number(r.p.sd['rampart@32473']!.seq));
    return [f, t, u].every((s) => s.includes(head)) && { f, t, u };
  });
  const readyz = async () => (await call(`${node.httpUrl}/readyz`)).body as { status: string; checks: Record<string, { status: string; detail: string; critical: boolean }> };
  const metric = async (name: string): Promise<number | undefined> => {
    const text = String((await call(`${node.httpUrl}/metrics`)).body);
    const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const issue = async (name: string, sans = 1) => {
    const san = Array.from({ length: sans }, (_, i) => `DNS:${i ? `host-${String(i).padStart(3, '0')}.` : ''}${name}`).join(',');
    const csr = readFileSync(makeCsr(dir, name.replace(/\W/g, '_'), { subj: `/CN=${name}`, san }).csrPath, 'utf8');
    const r = await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: 'server' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.serial as string;
  };
  const audited = async (tag: string) => {
    const serial = await issue(`${tag}.audit-forwarding.test`);
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates/${serial}/revoke`, { token, ca, json: { reason: 'keyCompromise' } })).status, 200);
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates`, { token: 'rmp_nosuchtoken_bad', ca, json: { csr: 'x', profile: 'server' } })).status, 401);
  };

  before(async () => {
    const bin = requireCommand('rsyslogd', 'rsyslog', { dirs: ['/usr/sbin'] });
    dir = tempDir('rampart-audit-fwd-');
    jsonl = join(dir, 'siem', 'audit.jsonl');
    tcp = rsyslog(dir, 'tcp', await freePort(), bin);
    udp = rsyslog(dir, 'udp', await freePort(), bin);
    await tcp.start();
    await udp.start();
    node = await startNode({
      env: {
        RAMPART_AUDIT__FORWARD: JSON.stringify([
          { type: 'jsonl', name: 'file', path: jsonl },
          { type: 'syslog', name: 'tcp', transport: 'tcp', host: '127.0.0.1', port: tcp.port, facility: 'authpriv', timeoutSeconds: 3 },
          { type: 'syslog', name: 'udp', transport: 'udp', host: '127.0.0.1', port: udp.port },
        ]),
        RAMPART_AUDIT__FORWARD_EVERY_SECONDS: '1',
        RAMPART_AUDIT__FORWARD_RETRY_MAX_SECONDS: '2',
        RAMPART_AUDIT__VERIFY_EVERY_MINUTES: '0.05',
        RAMPART_AUDIT__FULL_VERIFY_EVERY_RUNS: '2',
      },
    });
    token = node.adminToken!;
    ca = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
  });

  after(async () => {
    await node?.stop();
    await tcp?.stop();
    await udp?.stop();
    if (node) removeDir(node.dataDir);
    if (dir) removeDir(dir);
  });

  it('forwards every entry, in seq order, with the database fields, to the file and both syslog servers', async () => {
    const serial = await issue('big.audit-forwarding.test', 60); // a long entry: its UDP message is truncated
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates/${serial}/revoke`, { token, ca, json: { reason: 'superseded' } })).status, 200);
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates?limit=1`, { token: 'rmp_bad_token', ca })).status, 401);
    const csr = readFileSync(makeCsr(dir, 'weird', { subj: '/CN=weird.audit-forwarding.test', san: 'DNS:weird.audit-forwarding.test' }).csrPath, 'utf8');
    assert.equal((await call(`${node.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: weirdProfile } })).status >= 400, true);

    const db = rows();
    const head = db[db.length - 1]!.seq;
    const actions = db.map((r) => `${r.action}:${r.outcome}`);
    for (const a of ['certificate.issue:success', 'certificate.revoke:success', 'auth.token:denied', 'certificate.issue:failure']) assert.ok(actions.includes(a), `${a} is audited`);
    await allArrived(head);
    const want = db.map(expected);
    const seqs = want.map((w) => w.seq);

    const file = fileRecords();
    assert.deepEqual(file.map((r) => r.seq), seqs, 'file: every entry once, in order');
    for (const [i, r] of file.entries()) {
      const { rampart, ...rest } = r;
      assert.deepEqual(rest, want[i]);
      assert.equal(rampart.node, `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 48)}-${new URL(node.httpUrl).port}`);
      assert.match(rampart.ca, /CN=/);
    }

    for (const [name, server, facility, limit] of [['tcp', tcp, FACILITY.authpriv, 65536], ['udp', udp, FACILITY.local0, 2048]] as const) {
      const got = syslogRecords(server);
      assert.deepEqual(got.map((g) => Number(g.p.sd['rampart@32473']!.seq)), seqs, `${name}: every entry once, in order`);
      for (const [i, { raw, p }] of got.entries()) {
        const w = want[i]!;
        assert.equal(p.version, 1);
        assert.equal(p.pri, facility * 8 + severity(w.outcome), `${name} PRI of ${w.seq}`);
        assert.equal(p.timestamp, w.time);
        assert.equal(p.hostname, hostname().split('.')[0]);
        assert.equal(p.appName, 'rampart');
        assert.equal(p.procId, '-');
        assert.equal(p.msgId, w.action.slice(0, 32));
        assert.deepEqual(p.sd, { 'rampart@32473': { seq: String(w.seq), actor: w.actor, source: w.source, channel: w.channel, target: w.target, outcome: w.outcome } });
        assert.ok(Buffer.byteLength(raw) <= limit);
        const { rampart: _, ...fullRecord } = file[i]!;
        if (w.action === 'certificate.issue' && w.outcome === 'success' && (w.details as { sans: string[] }).sans.length === 60) {
          if (name === 'udp') {
            assert.equal(Buffer.byteLength(raw), 2048, 'the long entry fills the UDP limit exactly');
            assert.ok(JSON.stringify(file[i]).startsWith(p.msg.slice(0, 100)));
            assert.throws(() => JSON.parse(p.msg), 'its JSON is cut');
            continue;
          }
          assert.ok(Buffer.byteLength(raw) > 2048, 'TCP carries it whole');
        }
        const msg = JSON.parse(p.msg);
        assert.deepEqual({ ...msg, rampart: undefined }, { ...fullRecord, rampart: undefined });
        assert.deepEqual(msg.rampart, file[i]!.rampart);
      }
      const weird = got.find((g) => g.p.sd['rampart@32473']!.target === `profile:${weirdProfile}`);
      assert.ok(weird, `${name}: the refused profile with " ] \\ in its name arrived intact`);
      assert.ok(weird.raw.includes('target="profile:caf\u00e9\\"\\]\\\\x"'), 'escaped in the SD-PARAM');
      assert.ok(/^[\x20-\x7e]*$/.test(weird.p.msg), 'MSG is plain ASCII JSON');
    }

    // Counted once the batch is acknowledged (for TCP, a moment after the server has it).
    await waitFor('the forwarded counter', async () => (await metric('rampart_audit_forwarded_total{sink="tcp"}')) === head);
    await waitFor('no lag', async () => (await metric('rampart_audit_forward_lag_entries{sink="udp"}')) === 0);
    await waitFor('a chain verification', async () => (await metric('rampart_audit_chain_ok')) === 1);
    const r = await readyz();
    assert.equal(r.checks.auditForward!.status, 'pass', r.checks.auditForward!.detail);
    assert.equal(r.checks.auditChain!.status, 'pass', r.checks.auditChain!.detail);
  });

  it('keeps entries for a syslog server that is down, without holding up the others, and delivers them when it is back', async () => {
    const before = rows().at(-1)!.seq;
    await tcp.stop();
    await audited('outage1');
    await audited('outage2');
    const head = rows().at(-1)!.seq;
    // The file and UDP get them meanwhile; TCP is reported failing with its lag.
    await waitFor('file and udp to carry on', () => fileRecords().some((r) => r.seq === head) && syslogRecords(udp).some((g) => g.p.sd['rampart@32473']!.seq === String(head)));
    const down = await waitFor('auditForward to warn about tcp', async () => {
      const c = (await readyz()).checks.auditForward!;
      return c.status === 'warn' && c;
    });
    assert.match(down.detail, /tcp \(syslog tcp 127\.0\.0\.1:\d+ \(facility authpriv\)\): FAILING since/);
    assert.match(down.detail, /file \(file .*\): through seq \d+, 0 entries behind/);
    assert.ok((await metric('rampart_audit_forward_lag_entries{sink="tcp"}'))! >= head - before);
    assert.equal(await metric('rampart_audit_forward_failing{sink="tcp"}'), 1);

    await tcp.start();
    await allArrived(head);
    const want = rows().map((r) => r.seq);
    const tcpSeqs = syslogRecords(tcp).map((g) => Number(g.p.sd['rampart@32473']!.seq));
    assert.deepEqual(firstSeen(tcpSeqs), want, 'tcp: nothing lost, in order');
    await waitFor('auditForward to pass again', async () => (await readyz()).checks.auditForward!.status === 'pass');
    assert.equal(await metric('rampart_audit_forward_failing{sink="tcp"}'), 0);
  });

  it('reports auditChain failing with the seq of a changed audit row, and keeps serving', async () => {
    const target = rows().find((r) => r.action === 'certificate.revoke' && r.outcome === 'success')!;
    const db = new Database(join(node.dataDir, 'rampart.db'));
    try {
      db.pragma('busy_timeout = 5000');
      db.prepare('UPDATE audit_log SET details = ? WHERE seq = ?').run(JSON.stringify({ reason: 'unspecified' }), target.seq);
    } finally { db.close(); }
    const r = await waitFor('auditChain to fail', async () => {
      const x = await readyz();
      return x.checks.auditChain!.status === 'fail' && x;
    });
    const c = r.checks.auditChain!;
    assert.match(c.detail, new RegExp(`audit chain broken at seq ${target.seq}: entry content does not match its hash`));
    assert.match(c.detail, /security incident/);
    assert.equal(c.critical, false);
    assert.equal(r.status, 'degraded');
    assert.equal((await call(`${node.httpUrl}/readyz`)).status, 200, 'still ready: the check is non-critical');
    assert.equal(await metric('rampart_audit_chain_ok'), 0);
    await sleep(4000);
    assert.equal((await readyz()).checks.auditChain!.status, 'fail', 'the failure stays until the chain verifies again');
    await issue('after-tamper.audit-forwarding.test');
  });
});
