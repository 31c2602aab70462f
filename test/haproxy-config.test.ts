/**
 * The HAProxy configuration renderer: defaults and custom health checks, the
 * differences between modes, the issuance backend's balance algorithm
 * (per-request balancing for ACME), refusal of bad options, and the real
 * `haproxy -c` accepting what it renders (without warnings) in both modes and
 * with round-robin.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseBalance, parseDurationMs, parseNodeOption } from '../src/cli/commands/haproxy.js';
import { haproxyCheck } from './helpers/haproxy.js';
import { removeDir, tempDir } from './helpers/node-process.js';
import { mustOpenssl } from './helpers/openssl.js';
import {
  HaproxyConfigError, nodeFromUrls, parseHostPort, renderHaproxyConfig, type HaproxyConfigOptions,
} from '../src/cluster/haproxy-config.js';

const NODES = [
  { name: 'ca-1', httpHost: '127.0.0.1', httpPort: 8080, httpsHost: '127.0.0.1', httpsPort: 8443 },
  { name: 'ca-2', httpHost: '127.0.0.2', httpPort: 9080, httpsHost: '127.0.0.2', httpsPort: 9443 },
];
const base = (over: Partial<HaproxyConfigOptions> = {}): HaproxyConfigOptions => ({
  nodes: NODES, bindHttp: '127.0.0.1:80', bindHttps: '127.0.0.1:443',
  tlsCertFile: '/etc/haproxy/rampart-api.pem', caFile: '/etc/haproxy/rampart-root-ca.pem', ...over,
});
/** The lines of one section (from its header to the next blank line). */
const section = (cfg: string, header: string): string => {
  const start = cfg.indexOf(`\n${header}\n`);
  assert.ok(start >= 0, `no section ${header}`);
  return cfg.slice(start + 1, cfg.indexOf('\n\n', start + 1) >>> 0);
};

describe('renderHaproxyConfig', () => {
  it('renders health checks with the defaults: 2 s interval, 1 s timeout, fall 3, rise 2', () => {
    const cfg = renderHaproxyConfig(base());
    const checks = 'check inter 2s fastinter 500ms downinter 1s fall 3 rise 2 slowstart 10s maxconn 200 observe layer4 error-limit 10 on-error mark-down';
    assert.match(cfg, /^defaults\n    mode http$/m);
    assert.match(cfg, /^ {4}timeout check 1s$/m);
    for (const l of ['retries 3', 'option redispatch 1', 'retry-on all-retryable-errors', 'option http-buffer-request', 'timeout server 15s']) {
      assert.match(cfg, new RegExp(`^ {4}${l}$`, 'm'), l);
    }

    const validation = section(cfg, 'backend validation');
    assert.match(validation, /^ {4}balance roundrobin$/m);
    assert.match(validation, /^ {4}option httpchk GET \/readyz$/m);
    assert.match(validation, /^ {4}http-check expect status 200$/m);
    assert.ok(validation.includes(`default-server ${checks}`), validation);
    assert.match(validation, /^ {4}server ca-1 127\.0\.0\.1:8080$/m);
    assert.match(validation, /^ {4}server ca-2 127\.0\.0\.2:9080$/m);

    const issuance = section(cfg, 'backend issuance');
    assert.match(issuance, /^ {4}balance leastconn$/m);
    assert.match(issuance, /^ {4}no option prefer-last-server$/m);
    assert.match(issuance, /^ {4}option httpchk GET \/readyz\?write=1$/m);
    assert.match(issuance, /^ {4}http-check expect status 200$/m);
    assert.match(issuance, /default-server ssl verify required ca-file \/etc\/haproxy\/rampart-root-ca\.pem alpn http\/1\.1 no-check-ssl check /);
    assert.ok(issuance.includes(checks));
    // Traffic to the HTTPS port, checks to the plain HTTP port; IPs get no verifyhost.
    assert.match(issuance, /^ {4}server ca-1 127\.0\.0\.1:8443 port 8080$/m);
    assert.match(issuance, /^ {4}server ca-2 127\.0\.0\.2:9443 port 9080$/m);
    assert.match(issuance, /disable-l7-retry if !METH_GET !\{ req\.hdr\(idempotency-key\) -m found \}/);
    assert.doesNotMatch(cfg, /on-marked-down/);

    // Reads of the REST API and the dashboard: every ready node, writable or not.
    const reads = section(cfg, 'backend reads');
    assert.match(reads, /^ {4}option httpchk GET \/readyz$/m);
    assert.ok(reads.includes(checks));
    assert.match(reads, /^ {4}server ca-1 127\.0\.0\.1:8443 port 8080$/m);
    assert.match(reads, /^ {4}server ca-2 127\.0\.0\.2:9443 port 9080$/m);
    assert.match(section(cfg, 'frontend api'), /^ {4}acl read_method method GET HEAD\n {4}acl read_path path_beg \/api\/ \/dashboard\n {4}use_backend reads if read_method read_path$/m);

    assert.match(section(cfg, 'frontend validation'), /^ {4}bind 127\.0\.0\.1:80\n(?: {4}#.*\n)* {4}use_backend validation_fallback if \{ nbsrv\(validation\) eq 0 \} \{ nbsrv\(validation_fallback\) gt 0 \}\n {4}default_backend validation$/m);
    // No ready node: every live node answers validation from its caches.
    const fallback = section(cfg, 'backend validation_fallback');
    assert.match(fallback, /^ {4}option httpchk GET \/healthz$/m);
    assert.ok(fallback.includes(`default-server ${checks}`), fallback);
    assert.match(fallback, /^ {4}server ca-1 127\.0\.0\.1:8080$/m);
    assert.match(fallback, /^ {4}server ca-2 127\.0\.0\.2:9080$/m);
    assert.match(section(cfg, 'frontend api'), /^ {4}bind 127\.0\.0\.1:443 ssl crt \/etc\/haproxy\/rampart-api\.pem alpn http\/1\.1$/m);
    assert.match(section(cfg, 'frontend api'), /default_backend issuance/);
    assert.match(section(cfg, 'frontend api'), /^ {4}http-request set-header X-Forwarded-Proto https$/m);
    assert.doesNotMatch(cfg, /stats/);
    assert.match(cfg, /taken out within 6s/);
  });

  it('renders custom check values, fastinter and downinter derived or given', () => {
    const cfg = renderHaproxyConfig(base({ check: { intervalMs: 5000, timeoutMs: 1500, fall: 5, rise: 4 } }));
    assert.match(cfg, /^ {4}timeout check 1500ms$/m);
    assert.equal(cfg.match(/check inter 5s fastinter 1250ms downinter 2500ms fall 5 rise 4 /g)?.length, 4, 'validation, validation_fallback, issuance, reads');
    const fast = renderHaproxyConfig(base({ check: { intervalMs: 400, timeoutMs: 300, fastinterMs: 100, downinterMs: 200 } }));
    assert.equal(fast.match(/check inter 400ms fastinter 100ms downinter 200ms fall 3 rise 2 /g)?.length, 4);
    assert.match(fast, /^ {4}timeout check 300ms$/m);
  });

  it('balances the issuance backend (API and ACME) round-robin on request, each request on its own', () => {
    const lc = renderHaproxyConfig(base());
    const rr = renderHaproxyConfig(base({ balance: 'roundrobin' }));
    const issuance = section(rr, 'backend issuance');
    assert.match(issuance, /^ {4}balance roundrobin$/m);
    assert.doesNotMatch(issuance, /leastconn/);
    // Never pinned to the node of the client's previous request, whatever the algorithm;
    // nothing closes or pins server connections behind its back.
    for (const cfg of [lc, rr]) {
      assert.match(section(cfg, 'backend issuance'), /^ {4}no option prefer-last-server$/m);
      assert.doesNotMatch(cfg, /^ {4}option (prefer-last-server|httpclose|http-tunnel)|^ {4}(stick|cookie|hash-type|http-reuse never)/m);
      assert.match(section(cfg, 'frontend api'), /X-Forwarded-Proto https/);
    }
    assert.match(rr, /^# Mode: active-active\. Issuance balance: roundrobin\./m);
    assert.match(section(rr, 'backend validation'), /^ {4}balance roundrobin$/m);
    // The algorithm is the only difference (besides the header comment).
    const strip = (cfg: string) => cfg.replace(/^# Mode: .*$/m, '').replace(/^ {4}balance \S+$/gm, '');
    assert.equal(strip(rr), strip(lc));
    assert.equal(strip(renderHaproxyConfig(base({ balance: 'leastconn' }))), strip(lc));
    // The CLI flag.
    assert.equal(parseBalance('roundrobin'), 'roundrobin');
    assert.equal(parseBalance('leastconn'), 'leastconn');
    assert.throws(() => parseBalance('source'), /--balance must be leastconn or roundrobin \(got "source"\)/);
  });

  it('differs between modes only in cutting sessions of a node that loses the active lease', () => {
    const aa = renderHaproxyConfig(base({ mode: 'active-active' }));
    const ap = renderHaproxyConfig(base({ mode: 'active-passive' }));
    assert.match(section(ap, 'backend issuance'), /default-server .* on-marked-down shutdown-sessions$/m);
    assert.doesNotMatch(section(ap, 'backend validation'), /on-marked-down/);
    // Every node is listed in both modes: health (/readyz?write=1) decides.
    for (const cfg of [aa, ap]) assert.equal(section(cfg, 'backend issuance').match(/^ {4}server /gm)?.length, 2);
  });

  it('checks plain HTTP at another address, verifies DNS names, brackets IPv6, renders stats', () => {
    const cfg = renderHaproxyConfig(base({
      nodes: [{ name: 'ca.1', httpHost: '::1', httpPort: 8080, httpsHost: 'localhost', httpsPort: 8443 }],
      bindHttp: '*:80', bindHttps: '[::1]:443', statsBind: '127.0.0.1:8404', statsSocket: '/run/haproxy/rampart.sock',
    }));
    assert.match(cfg, /^ {4}server ca\.1 \[::1\]:8080$/m);
    assert.match(cfg, /^ {4}server ca\.1 localhost:8443 port 8080 addr \[::1\] verifyhost localhost$/m);
    assert.match(cfg, /^ {4}bind :80$/m);
    assert.match(cfg, /^ {4}bind \[::1\]:443 ssl/m);
    assert.match(section(cfg, 'listen stats'), /bind 127\.0\.0\.1:8404\n[^]*stats admin if LOCALHOST/);
    assert.match(cfg, /^ {4}stats socket \/run\/haproxy\/rampart\.sock mode 600 level admin$/m);
  });

  it('refuses bad options with a message naming them', () => {
    const bad: Array<[Partial<HaproxyConfigOptions>, RegExp]> = [
      [{ nodes: [] }, /at least one node/],
      [{ nodes: [NODES[0]!, NODES[0]!] }, /"ca-1" is given twice/],
      [{ nodes: [{ ...NODES[0]!, name: 'ca 1' }] }, /node name "ca 1"/],
      [{ nodes: [{ ...NODES[0]!, httpPort: 0 }] }, /node ca-1 plain HTTP: port must be an integer 1\.\.65535/],
      [{ nodes: [{ ...NODES[0]!, httpsPort: 70000 }] }, /node ca-1 HTTPS: port/],
      [{ nodes: [{ ...NODES[0]!, httpsHost: 'bad_host!' }] }, /node ca-1 HTTPS host: "bad_host!"/],
      [{ bindHttp: 'localhost' }, /bindHttp: expected host:port/],
      [{ bindHttps: '127.0.0.1:80' }, /bindHttp and bindHttps must differ/],
      [{ bindHttps: '[1.2.3.4]:443' }, /bindHttps: "1\.2\.3\.4" is not an IPv6 address/],
      [{ tlsCertFile: 'api.pem' }, /tlsCertFile must be an absolute path/],
      [{ caFile: '/etc/my ca.pem' }, /caFile must not contain spaces/],
      [{ statsSocket: '/run/$X.sock' }, /statsSocket must not contain/],
      [{ statsBind: '0.0.0.0:8404' }, /statsBind must be a loopback address/],
      [{ check: { timeoutMs: 3000 } }, /check timeout \(3000 ms\) must not exceed the check interval \(2000 ms\)/],
      [{ check: { intervalMs: 50 } }, /check interval \(ms\) must be an integer 100\.\./],
      [{ check: { fall: 0 } }, /check fall must be an integer 1\.\.100/],
      [{ check: { rise: 1.5 } }, /check rise must be an integer/],
      [{ check: { fastinterMs: 5000 } }, /check fastinter \(ms\) must be an integer 100\.\.2000/],
      [{ mode: 'hot-standby' as never }, /mode must be one of active-active, active-passive/],
      [{ balance: 'source' as never }, /balance must be one of leastconn, roundrobin \(got "source"\)/],
      [{ maxconnPerServer: 0 }, /maxconnPerServer must be an integer/],
    ];
    for (const [over, msg] of bad) {
      assert.throws(() => renderHaproxyConfig(base(over)), (e: unknown) => e instanceof HaproxyConfigError && msg.test(e.message), `${JSON.stringify(over)} should fail with ${msg}`);
    }
  });

  it('parses nodes from URLs and host:port', () => {
    assert.deepEqual(nodeFromUrls('n1', 'http://127.0.0.1:8080', 'https://ca.example.com'), { name: 'n1', httpHost: '127.0.0.1', httpPort: 8080, httpsHost: 'ca.example.com', httpsPort: 443 });
    assert.deepEqual(nodeFromUrls('n1', 'http://[::1]:8080/', 'https://[::1]:8443'), { name: 'n1', httpHost: '::1', httpPort: 8080, httpsHost: '::1', httpsPort: 8443 });
    assert.throws(() => nodeFromUrls('n1', 'https://a:1', 'https://a:2'), /node n1: plain HTTP URL must start with http:\/\//);
    assert.throws(() => nodeFromUrls('n1', 'http://a:1/ocsp', 'https://a:2'), /must be scheme:\/\/host:port only/);
    assert.throws(() => nodeFromUrls('n1', 'nonsense', 'https://a:2'), /is not a URL/);
    assert.deepEqual(parseHostPort('[::]:443', 'x'), { host: '::', port: 443 });
    assert.throws(() => parseHostPort('127.0.0.1:0', 'x'), /x: port must be/);
    assert.deepEqual(parseNodeOption('n2=https://127.0.0.1:9443,http://127.0.0.1:9080'), { name: 'n2', httpHost: '127.0.0.1', httpPort: 9080, httpsHost: '127.0.0.1', httpsPort: 9443 });
    assert.throws(() => parseNodeOption('n2=http://127.0.0.1:9080'), /--node "n2=http:\/\/127\.0\.0\.1:9080": expected name=http:\/\/host:port,https:\/\/host:port/);
    assert.throws(() => parseNodeOption('=http://a:1,https://a:2'), /expected name=/);
    assert.equal(parseDurationMs('2s', '--interval'), 2000);
    assert.equal(parseDurationMs('750ms', '--interval'), 750);
    assert.equal(parseDurationMs('1500', '--interval'), 1500);
    assert.throws(() => parseDurationMs('2m', '--interval'), /--interval must be a duration such as 2000, 500ms or 2s \(got "2m"\)/);
    assert.throws(() => parseDurationMs('0', '--timeout'), /--timeout must be a duration/);
  });
});

describe('haproxy -c accepts the rendered configuration', () => {
  let dir: string;
  let files: { tlsCertFile: string; caFile: string };

  before(() => {
    dir = tempDir('rampart-haproxy-cfg-');
    mustOpenssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-days', '2',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`]);
    writeFileSync(`${dir}/frontend.pem`, readFileSync(`${dir}/cert.pem`, 'utf8') + readFileSync(`${dir}/key.pem`, 'utf8'));
    files = { tlsCertFile: `${dir}/frontend.pem`, caFile: `${dir}/cert.pem` };
  });
  after(() => { if (dir) removeDir(dir); });

  for (const [mode, balance] of [['active-active', 'leastconn'], ['active-passive', 'leastconn'], ['active-active', 'roundrobin']] as const) {
    it(`${mode}, balance ${balance}: valid, without warnings`, () => {
      const cfg = renderHaproxyConfig(base({
        ...files, mode, balance, statsBind: '127.0.0.1:8404', statsSocket: `${dir}/admin-${mode}-${balance}.sock`,
        nodes: [...NODES, { name: 'ca-3', httpHost: '::1', httpPort: 8081, httpsHost: 'localhost', httpsPort: 8444 }],
      }));
      assert.match(section(cfg, 'backend issuance'), new RegExp(`^ {4}balance ${balance}$`, 'm'));
      const r = haproxyCheck(cfg, dir, `${mode}-${balance}.cfg`);
      assert.ok(r.ok, r.output);
      assert.match(r.output, /Configuration file is valid/);
      assert.doesNotMatch(r.output, /WARNING|ALERT/, r.output);
    });
  }

  it('with an EST frontend: TCP mode passing TLS through to the nodes\' HTTPS ports, valid without warnings', () => {
    for (const mode of ['active-active', 'active-passive'] as const) {
      const cfg = renderHaproxyConfig(base({ ...files, mode, bindEst: '127.0.0.1:8445', statsBind: '127.0.0.1:8404' }));
      const est = section(cfg, 'backend est');
      assert.match(section(cfg, 'frontend est'), /^ {4}bind 127\.0\.0\.1:8445$/m);
      assert.match(est, /^ {4}option httpchk GET \/readyz\?write=1$/m);
      for (const n of NODES) assert.match(est, new RegExp(`^ {4}server ${n.name} .*:${n.httpsPort} port ${n.httpPort}`, 'm'));
      assert.doesNotMatch(est, /ssl/, 'TLS is not terminated');
      const r = haproxyCheck(cfg, dir, `est-${mode}.cfg`);
      assert.ok(r.ok, r.output);
      assert.doesNotMatch(r.output, /WARNING|ALERT/, r.output);
    }
    assert.throws(() => renderHaproxyConfig(base({ ...files, bindEst: '127.0.0.1:443' })), /bindEst must differ/);
  });

  it('a broken file is refused (the check is real)', () => {
    const cfg = renderHaproxyConfig(base(files)).replace('balance roundrobin', 'balance sideways');
    const r = haproxyCheck(cfg, dir, 'broken.cfg');
    assert.equal(r.ok, false);
    assert.match(r.output, /broken\.cfg:\d+\] : balance only supports/);
  });
});

