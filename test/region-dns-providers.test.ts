/**
 * The DNS providers used by cross-region failover (src/region/dns/): the JSON
 * file provider (atomic replace, other names kept, bad changes refused with
 * the file untouched), the exec provider (a real shell script: environment,
 * stdin, exit codes, stderr, the timeout killing its process group), the
 * Route 53 provider (the real AWS SDK against a local HTTP server that speaks
 * just enough Route 53 XML), the `dns` configuration schema and the factory.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createDnsProvider } from '../src/region/dns/create-dns-provider.js';
import { dnsSchema } from '../src/config/dns-config.js';
import type { DnsChange } from '../src/region/dns/dns-provider.js';
import { ExecDnsProvider } from '../src/region/dns/exec-provider.js';
import { FileDnsProvider } from '../src/region/dns/file-provider.js';
import { Route53DnsProvider } from '../src/region/dns/route53-provider.js';

const dirs: string[] = [];
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'rampart-dns-'));
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const change = (over: Partial<DnsChange> = {}): DnsChange => ({
  name: 'ca.example.com', type: 'A', ttl: 60, targets: ['192.0.2.10', '192.0.2.11'], region: 'eu-central', reason: 'failover drill by alice', ...over,
});

describe('file DNS provider', () => {
  it('creates the document, answers current(), keeps other names and returns the previous values', async () => {
    const dir = temp();
    const path = join(dir, 'zone', 'records.json');
    const p = new FileDnsProvider({ path, clock: () => new Date('2030-01-02T03:04:05.000Z') });
    assert.equal(await p.current('ca.example.com', 'A'), null, 'missing file = null');

    const r1 = await p.update(change());
    assert.deepEqual(r1, { ...r1, provider: 'file', name: 'ca.example.com', previous: null, targets: ['192.0.2.10', '192.0.2.11'] });
    const other = await p.update(change({ name: 'OCSP.example.com.', type: 'CNAME', targets: ['ocsp.eu-central.example.com'], ttl: 300 }));
    assert.equal(other.previous, null);

    const r2 = await p.update(change({ name: 'ca.example.com.', targets: ['198.51.100.7'], region: 'us-east', reason: 'back' }));
    assert.deepEqual(r2.previous, ['192.0.2.10', '192.0.2.11']);
    assert.match(r2.detail, /198\.51\.100\.7/);

    const doc = JSON.parse(readFileSync(path, 'utf8'));
    assert.deepEqual(doc, {
      records: {
        'ca.example.com': { type: 'A', ttl: 60, targets: ['198.51.100.7'], region: 'us-east', reason: 'back', updatedAt: '2030-01-02T03:04:05.000Z' },
        'ocsp.example.com': { type: 'CNAME', ttl: 300, targets: ['ocsp.eu-central.example.com'], region: 'eu-central', reason: 'failover drill by alice', updatedAt: '2030-01-02T03:04:05.000Z' },
      },
    });
    assert.deepEqual(await p.current('CA.example.com.', 'A'), ['198.51.100.7']);
    assert.equal(await p.current('ca.example.com', 'AAAA'), null, 'another type of the same name');
    assert.deepEqual(await p.current('ocsp.example.com', 'CNAME'), ['ocsp.eu-central.example.com']);
    assert.equal(await p.current('nope.example.com', 'A'), null);
  });

  it('replaces the file atomically: no temporary files are left, concurrent updates all land', async () => {
    const dir = temp();
    const path = join(dir, 'records.json');
    const p = new FileDnsProvider({ path });
    await Promise.all(Array.from({ length: 8 }, (_, i) => p.update(change({ name: `n${i}.example.com`, targets: [`192.0.2.${i + 1}`] }))));
    assert.deepEqual(readdirSync(dir), ['records.json']);
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    assert.equal(Object.keys(doc.records).length, 8);
    for (let i = 0; i < 8; i++) assert.deepEqual(doc.records[`n${i}.example.com`].targets, [`192.0.2.${i + 1}`]);
  });

  it('refuses bad changes clearly and leaves the file unchanged', async () => {
    const dir = temp();
    const path = join(dir, 'records.json');
    const p = new FileDnsProvider({ path });
    await p.update(change());
    const before = readFileSync(path);
    const bad: Array<[Partial<DnsChange>, RegExp]> = [
      [{ name: 'bad name.example.com' }, /name "bad name\.example\.com" is not a DNS name/],
      [{ name: '-x.example.com' }, /not a DNS name/],
      [{ name: '192.0.2.1' }, /not an IP address/],
      [{ targets: [] }, /at least one/],
      [{ targets: ['192.0.2.300'] }, /A record target "192\.0\.2\.300" is not an IPv4 address/],
      [{ targets: ['2001:db8::1'] }, /is not an IPv4 address/],
      [{ type: 'AAAA', targets: ['192.0.2.1'] }, /AAAA record target "192\.0\.2\.1" is not an IPv6 address/],
      [{ type: 'CNAME', targets: ['a.example.com', 'b.example.com'] }, /exactly one target, got 2/],
      [{ type: 'CNAME', targets: ['192.0.2.1'] }, /CNAME target "192\.0\.2\.1" is not a host name/],
      [{ type: 'MX' as DnsChange['type'] }, /type "MX" is not supported/],
      [{ ttl: 0 }, /ttl 0 must be an integer from 1 to 86400/],
      [{ ttl: 86_401 }, /ttl 86401/],
      [{ ttl: 1.5 }, /ttl 1\.5/],
      [{ targets: ['192.0.2.1', '192.0.2.1'] }, /duplicates/],
      [{ region: '' }, /region must not be empty/],
      [{ reason: 'a\nb' }, /reason must not contain control characters/],
    ];
    for (const [over, re] of bad) {
      await assert.rejects(p.update(change(over)), re, JSON.stringify(over));
      assert.deepEqual(readFileSync(path), before, `file changed by ${JSON.stringify(over)}`);
    }
    assert.deepEqual(readdirSync(dir), ['records.json']);
  });

  it('does not overwrite a file that is not a records document', async () => {
    const path = join(temp(), 'records.json');
    writeFileSync(path, '{"records": [1, 2]}');
    const p = new FileDnsProvider({ path });
    await assert.rejects(p.update(change()), /is not a records document.*it is not overwritten/);
    await assert.rejects(p.current('ca.example.com', 'A'), /not a records document/);
    assert.equal(readFileSync(path, 'utf8'), '{"records": [1, 2]}');
  });
});

/** Writes a sh script and returns the argv that runs it (through sh: no exec of a just-written file). */
function script(dir: string, name: string, body: string): string[] {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return ['sh', file];
}

/** True while `pid` runs (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('exec DNS provider', () => {
  it('runs the command with the change in its environment and on stdin; the last stdout line is the detail', async () => {
    const dir = temp();
    const out = join(dir, 'calls.log');
    const command = script(dir, 'dns.sh', [
      '{ env | grep "^RAMPART_DNS_" | sort; echo "--stdin--"; cat; echo "--end--"; } >> "$OUT"',
      'echo "talking to the DNS API"',
      'echo "change 42 accepted"',
    ].join('\n'));
    const p = new ExecDnsProvider({ command, timeoutSeconds: 10, env: { PATH: process.env.PATH, OUT: out } });
    assert.equal(await p.current('ca.example.com', 'A'), null);
    assert.equal(existsSync(out), false, 'current() runs nothing');

    const c = change({ reason: 'failover to eu-central, ticket #7' });
    const r = await p.update(c);
    assert.deepEqual(r, { provider: 'exec', name: 'ca.example.com', previous: null, targets: c.targets, detail: 'change 42 accepted' });

    const log = readFileSync(out, 'utf8');
    const [envPart, rest] = log.split('--stdin--\n');
    const env = Object.fromEntries(envPart!.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.deepEqual(env, {
      RAMPART_DNS_NAME: 'ca.example.com',
      RAMPART_DNS_REASON: 'failover to eu-central, ticket #7',
      RAMPART_DNS_REGION: 'eu-central',
      RAMPART_DNS_TARGETS: '192.0.2.10,192.0.2.11',
      RAMPART_DNS_TTL: '60',
      RAMPART_DNS_TYPE: 'A',
    });
    assert.deepEqual(JSON.parse(rest!.split('--end--')[0]!), c);
  });

  it('refuses a bad change without running the command', async () => {
    const dir = temp();
    const out = join(dir, 'ran');
    const p = new ExecDnsProvider({ command: script(dir, 'dns.sh', 'touch "$OUT"'), timeoutSeconds: 5, env: { PATH: process.env.PATH, OUT: out } });
    await assert.rejects(p.update(change({ type: 'AAAA' })), /not an IPv6 address/);
    assert.equal(existsSync(out), false);
  });

  it('a failing command gives an error with its exit code and the end of its stderr', async () => {
    const dir = temp();
    const p = new ExecDnsProvider({
      command: script(dir, 'fail.sh', 'echo "some output"\necho "line one" >&2\necho "zone example.com: REFUSED" >&2\nexit 3'),
      timeoutSeconds: 10,
    });
    await assert.rejects(p.update(change()), (e: Error) => {
      assert.match(e.message, /exited with code 3/);
      assert.match(e.message, /fail\.sh/);
      assert.match(e.message, /line one\nzone example\.com: REFUSED/);
      return true;
    });
  });

  it('a command that is not there is named in the error', async () => {
    const p = new ExecDnsProvider({ command: [join(temp(), 'no-such-command')], timeoutSeconds: 5 });
    await assert.rejects(p.update(change()), /could not run .*no-such-command.*ENOENT/);
  });

  it('a hanging command is killed at the timeout, with its children', async () => {
    const dir = temp();
    const pidFile = join(dir, 'sleep.pid');
    const p = new ExecDnsProvider({
      command: script(dir, 'hang.sh', `echo "waiting for the API" >&2\nsleep 30 &\necho $! > "${pidFile}"\nwait`),
      timeoutSeconds: 1,
    });
    const t0 = Date.now();
    await assert.rejects(p.update(change()), /timed out after 1s and was killed.*\n?.*waiting for the API/s);
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 6000, `took ${took} ms`);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(pid > 0);
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(pid), false, 'the sleep started by the script was killed too');
  });
});

// ------------------------------------------------------------------ Route 53

const NS = 'https://route53.amazonaws.com/doc/2013-04-01/';
const ZONE = 'Z0TESTZONE123';
const changeInfo = (tag: string, status: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<${tag} xmlns="${NS}"><ChangeInfo><Id>/change/C0CHANGE42</Id><Status>${status}</Status><SubmittedAt>2030-01-01T00:00:00.000Z</SubmittedAt><Comment>x</Comment></ChangeInfo></${tag}>`;
const listAnswer = (name: string, type: string, values: string[]) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<ListResourceRecordSetsResponse xmlns="${NS}"><ResourceRecordSets><ResourceRecordSet><Name>${name}</Name><Type>${type}</Type><TTL>60</TTL><ResourceRecords>${
    values.map((v) => `<ResourceRecord><Value>${v}</Value></ResourceRecord>`).join('')
  }</ResourceRecords></ResourceRecordSet></ResourceRecordSets><IsTruncated>true</IsTruncated><NextRecordName>zz.example.com.</NextRecordName><NextRecordType>A</NextRecordType><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>`;

interface Seen { method: string; url: string; body: string; authorization: string }

describe('Route 53 DNS provider (real SDK, local server)', () => {
  let server: Server;
  let endpoint: string;
  const seen: Seen[] = [];
  let list = listAnswer('ca.example.com.', 'A', ['192.0.2.99']);
  let changeError = false;
  let pendingPolls = 1;
  const providers: Route53DnsProvider[] = [];

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString('utf8'); });
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body, authorization: String(req.headers.authorization ?? '') });
        const path = (req.url ?? '').split('?')[0]!;
        const send = (status: number, xml: string) => res.writeHead(status, { 'content-type': 'text/xml' }).end(xml);
        if (req.method === 'POST' && path === `/2013-04-01/hostedzone/${ZONE}/rrset`) {
          if (changeError) {
            return send(400, `<?xml version="1.0"?>\n<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>RRSet with DNS name ca.example.com. is not permitted in zone other.example.com.</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`);
          }
          return send(200, changeInfo('ChangeResourceRecordSetsResponse', 'PENDING'));
        }
        if (req.method === 'GET' && path === '/2013-04-01/change/C0CHANGE42') {
          const status = pendingPolls > 0 ? 'PENDING' : 'INSYNC';
          pendingPolls--;
          return send(200, changeInfo('GetChangeResponse', status));
        }
        if (req.method === 'GET' && path === `/2013-04-01/hostedzone/${ZONE}/rrset`) return send(200, list);
        return send(404, `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>NotFound</Code><Message>no route ${req.method} ${path}</Message></Error></ErrorResponse>`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    for (const p of providers) p.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const env = { RAMPART_ROUTE53_ACCESS_KEY_ID: 'AKIDFAKEFORTESTS', RAMPART_ROUTE53_SECRET_ACCESS_KEY: 'fake-secret' };
  function provider(waitSeconds: number, sleeps: number[] = []): Route53DnsProvider {
    const r = new Route53DnsProvider({
      hostedZoneId: `/hostedzone/${ZONE}`, region: 'us-east-1', endpoint, accessKeyIdEnv: 'RAMPART_ROUTE53_ACCESS_KEY_ID',
      secretAccessKeyEnv: 'RAMPART_ROUTE53_SECRET_ACCESS_KEY', waitSeconds, env, pollIntervalMs: 400, sleep: async (ms) => { sleeps.push(ms); },
    });
    providers.push(r);
    return r;
  }

  it('createDnsProvider builds it from the configuration (endpoint, credentials from the env vars)', async () => {
    seen.length = 0;
    list = listAnswer('ca.example.com.', 'A', ['192.0.2.5']);
    const p = createDnsProvider(dnsSchema.parse({ provider: 'route53', name: 'ca.example.com', hostedZoneId: ZONE, endpoint, waitSeconds: 0 }), { env });
    assert.ok(p instanceof Route53DnsProvider);
    providers.push(p);
    assert.deepEqual(await p.current('ca.example.com', 'A'), ['192.0.2.5']);
    assert.equal(seen.length, 1);
    assert.match(seen[0]!.authorization, /Credential=AKIDFAKEFORTESTS\//);
  });

  it('UPSERTs the record set and waits until the change is INSYNC', async () => {
    seen.length = 0;
    pendingPolls = 1;
    list = listAnswer('CA.example.com.', 'A', ['192.0.2.99']);
    const sleeps: number[] = [];
    const r = await provider(120, sleeps).update(change({ ttl: 30, targets: ['198.51.100.7', '198.51.100.8'], reason: 'region eu-west lost' }));
    assert.deepEqual(r.previous, ['192.0.2.99']);
    assert.match(r.detail, /change \/change\/C0CHANGE42 INSYNC/);
    assert.deepEqual(seen.map((s) => `${s.method} ${s.url.split('?')[0]}`), [
      `GET /2013-04-01/hostedzone/${ZONE}/rrset`,
      `POST /2013-04-01/hostedzone/${ZONE}/rrset`,
      'GET /2013-04-01/change/C0CHANGE42',
      'GET /2013-04-01/change/C0CHANGE42',
    ]);
    assert.deepEqual(sleeps, [400, 400], 'one wait before each GetChange');
    const post = seen[1]!.body;
    assert.match(post, /<Action>UPSERT<\/Action>/);
    assert.match(post, /<Name>ca\.example\.com\.<\/Name>/);
    assert.match(post, /<Type>A<\/Type>/);
    assert.match(post, /<TTL>30<\/TTL>/);
    assert.match(post, /<Value>198\.51\.100\.7<\/Value>.*<Value>198\.51\.100\.8<\/Value>/s);
    assert.match(post, /<Comment>Rampart failover to region eu-central: region eu-west lost<\/Comment>/);
    assert.equal((post.match(/<Change>/g) ?? []).length, 1, 'a single change');
    const q = new URL(seen[0]!.url, endpoint).searchParams;
    assert.deepEqual([q.get('name'), q.get('type'), q.get('maxitems')], ['ca.example.com.', 'A', '1']);
    for (const s of seen) assert.match(s.authorization, /Credential=AKIDFAKEFORTESTS\//, 'static credentials from the env vars');
  });

  it('fails when the change is not INSYNC within waitSeconds, and does not poll with waitSeconds 0', async () => {
    seen.length = 0;
    pendingPolls = 1_000;
    const sleeps: number[] = [];
    await assert.rejects(provider(1, sleeps).update(change()), /change \/change\/C0CHANGE42 for ca\.example\.com was still PENDING after 1s/);
    assert.deepEqual(sleeps, [400, 400, 200]);
    assert.equal(seen.filter((s) => s.url.startsWith('/2013-04-01/change/')).length, 3);

    seen.length = 0;
    const r = await provider(0).update(change());
    assert.match(r.detail, /PENDING \(not waiting for INSYNC/);
    assert.equal(seen.filter((s) => s.url.startsWith('/2013-04-01/change/')).length, 0);
  });

  it('current() returns the values only for an exact name and type match', async () => {
    const p = provider(0);
    list = listAnswer('ca.example.com.', 'A', ['192.0.2.1', '192.0.2.2']);
    assert.deepEqual(await p.current('ca.example.com', 'A'), ['192.0.2.1', '192.0.2.2']);
    list = listAnswer('cb.example.com.', 'A', ['192.0.2.1']);
    assert.equal(await p.current('ca.example.com', 'A'), null, 'the next name in order');
    list = listAnswer('ca.example.com.', 'CNAME', ['x.example.com']);
    assert.equal(await p.current('ca.example.com', 'A'), null, 'another type');
  });

  it('an error answer from Route 53 gives a clear error', async () => {
    changeError = true;
    try {
      await assert.rejects(provider(120).update(change()), (e: Error) => {
        assert.match(e.message, /ChangeResourceRecordSets \(UPSERT ca\.example\.com\. A\) in zone Z0TESTZONE123 failed/);
        assert.match(e.message, /InvalidChangeBatch/);
        assert.match(e.message, /is not permitted in zone other\.example\.com/);
        assert.match(e.message, /HTTP 400/);
        return true;
      });
    } finally {
      changeError = false;
    }
  });

  it('refuses half-set static credentials', () => {
    assert.throws(() => new Route53DnsProvider({
      hostedZoneId: ZONE, region: 'us-east-1', accessKeyIdEnv: 'K', secretAccessKeyEnv: 'S', waitSeconds: 0, env: { K: 'AKID' },
    }), /K is set but S is not/);
  });
});

describe('dns configuration schema and factory', () => {
  it('parses every provider with its defaults', () => {
    assert.deepEqual(dnsSchema.parse(undefined), { provider: 'none' });
    assert.deepEqual(dnsSchema.parse({ provider: 'file', name: 'ca.example.com.', path: 'dns.json' }),
      { provider: 'file', name: 'ca.example.com.', type: 'A', ttl: 60, path: 'dns.json' });
    assert.deepEqual(dnsSchema.parse({ provider: 'exec', name: 'ca.example.com', type: 'CNAME', command: ['/usr/local/bin/dns-update'] }),
      { provider: 'exec', name: 'ca.example.com', type: 'CNAME', ttl: 60, command: ['/usr/local/bin/dns-update'], timeoutSeconds: 60 });
    assert.deepEqual(dnsSchema.parse({ provider: 'route53', name: 'ca.example.com', hostedZoneId: 'Z0ABC', ttl: 30 }), {
      provider: 'route53', name: 'ca.example.com', type: 'A', ttl: 30, hostedZoneId: 'Z0ABC', region: 'us-east-1',
      accessKeyIdEnv: 'RAMPART_ROUTE53_ACCESS_KEY_ID', secretAccessKeyEnv: 'RAMPART_ROUTE53_SECRET_ACCESS_KEY', waitSeconds: 120,
    });
  });

  it('rejects unknown providers, unknown fields and out-of-range values', () => {
    const bad: unknown[] = [
      { provider: 'cloudflare', name: 'ca.example.com' },
      {},
      { provider: 'none', name: 'ca.example.com' },
      { provider: 'file', name: 'ca.example.com', path: 'x.json', zone: 'example.com' },
      { provider: 'file', path: 'x.json' },
      { provider: 'file', name: 'not a name', path: 'x.json' },
      { provider: 'file', name: 'ca.example.com', path: 'x.json', type: 'MX' },
      { provider: 'file', name: 'ca.example.com', path: 'x.json', ttl: 0 },
      { provider: 'exec', name: 'ca.example.com', command: [] },
      { provider: 'exec', name: 'ca.example.com', command: 'nsupdate -k key' },
      { provider: 'exec', name: 'ca.example.com', command: ['x'], timeoutSeconds: 601 },
      { provider: 'route53', name: 'ca.example.com' },
      { provider: 'route53', name: 'ca.example.com', hostedZoneId: 'Z0ABC', endpoint: 'ftp://127.0.0.1' },
      { provider: 'route53', name: 'ca.example.com', hostedZoneId: 'Z0ABC', waitSeconds: 901 },
      { provider: 'route53', name: 'ca.example.com', hostedZoneId: 'Z0ABC', accessKeyIdEnv: 'NOT-A-VAR' },
    ];
    for (const v of bad) assert.equal(dnsSchema.safeParse(v).success, false, JSON.stringify(v));
  });

  it('createDnsProvider builds the configured provider; relative file paths resolve against baseDir', () => {
    assert.equal(createDnsProvider(dnsSchema.parse(undefined), {}), null);
    const f = createDnsProvider(dnsSchema.parse({ provider: 'file', name: 'ca.example.com', path: 'dns/records.json' }), { baseDir: '/var/lib/rampart' });
    assert.ok(f instanceof FileDnsProvider);
    assert.equal(f.path, '/var/lib/rampart/dns/records.json');
    const e = createDnsProvider(dnsSchema.parse({ provider: 'exec', name: 'ca.example.com', command: ['true'] }), {});
    assert.ok(e instanceof ExecDnsProvider);
    assert.equal(e.kind, 'exec');
  });
});
