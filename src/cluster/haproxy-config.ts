/**
 * Renders an HAProxy (2.6+) configuration for a Rampart cluster: a plain HTTP
 * frontend for validation traffic (OCSP, CRLs, CA certificates) balanced over
 * every ready node, and a TLS frontend for the REST API and ACME (/acme)
 * re-encrypting to the nodes that accept writes (`/readyz?write=1`), every
 * HTTP request balanced on its own; GETs of the REST API and the dashboard go
 * to every ready node, writable or not; optionally an EST frontend in TCP
 * mode passing TLS through to the writable nodes (client certificates must
 * reach them). Pure: no I/O, throws
 * HaproxyConfigError with a message naming the bad option.
 */
import { isIP } from 'node:net';

export type HaproxyMode = 'active-active' | 'active-passive';
export const HAPROXY_MODES: readonly HaproxyMode[] = ['active-active', 'active-passive'];

/** Load-balancing algorithm of the issuance backend (REST API and ACME). */
export type HaproxyBalance = 'leastconn' | 'roundrobin';
export const HAPROXY_BALANCES: readonly HaproxyBalance[] = ['leastconn', 'roundrobin'];
export const DEFAULT_BALANCE: HaproxyBalance = 'leastconn';

export interface HaproxyNode {
  /** HAProxy server name: letters, digits, . _ - (the cluster node id). */
  name: string;
  httpHost: string;
  httpPort: number;
  httpsHost: string;
  httpsPort: number;
}

export interface HaproxyCheckOptions {
  intervalMs?: number;
  timeoutMs?: number;
  fall?: number;
  rise?: number;
  /** Check interval while a server changes state (default interval / 4, at least 100 ms). */
  fastinterMs?: number;
  /** Check interval while a server is down (default interval / 2, at least 100 ms). */
  downinterMs?: number;
}

export interface HaproxyConfigOptions {
  nodes: HaproxyNode[];
  /** 'host:port' of the plain HTTP validation frontend. */
  bindHttp: string;
  /** 'host:port' of the HTTPS API frontend. */
  bindHttps: string;
  /** Absolute path: PEM with the frontend certificate, its chain and its private key. */
  tlsCertFile: string;
  /** Absolute path: the Rampart root CA, to verify the nodes' HTTPS certificates. */
  caFile: string;
  check?: HaproxyCheckOptions;
  mode?: HaproxyMode;
  /**
   * Algorithm of the issuance backend (REST API and ACME), default leastconn.
   * Either way every HTTP request is balanced on its own, also on a kept-alive
   * client connection; roundrobin spreads a client's ACME requests evenly.
   */
  balance?: HaproxyBalance;
  /**
   * Optional 'host:port' of the EST frontend (RFC 7030): TCP mode, TLS passed
   * through to the nodes' HTTPS port, so a client's certificate reaches the
   * node (re-enrollment is authenticated by it).
   */
  bindEst?: string;
  /** Optional 'host:port' (loopback only) for the stats page with admin actions. */
  statsBind?: string;
  /** Optional absolute path of an admin-level stats socket (`show servers state`, `disable server`). */
  statsSocket?: string;
  /** Concurrent requests per node before HAProxy queues (default 200). */
  maxconnPerServer?: number;
  /**
   * Optional 'host:port' of a plain static web server serving the leader's
   * copy of validation (`mirror.directory`): validation goes there while no
   * node is up.
   */
  validationMirror?: string;
  /**
   * The path under which that server has the copy, e.g. `/<bucket>/<prefix>`
   * for a path-style S3 endpoint serving `mirror.s3` (default: its root).
   */
  validationMirrorPath?: string;
}

export const DEFAULT_CHECK = { intervalMs: 2000, timeoutMs: 1000, fall: 3, rise: 2 } as const;

export class HaproxyConfigError extends Error {
  override name = 'HaproxyConfigError';
}

const fail = (msg: string): never => { throw new HaproxyConfigError(msg); };

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const SERVER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function checkHost(host: string, what: string): string {
  if (isIP(host) !== 0 || HOSTNAME_RE.test(host)) return host;
  return fail(`${what}: "${host}" is not an IP address or DNS host name`);
}

function checkPort(port: number, what: string): number {
  if (Number.isInteger(port) && port >= 1 && port <= 65535) return port;
  return fail(`${what}: port must be an integer 1..65535 (got ${String(port)})`);
}

/** Parses 'host:port', '[v6]:port' or '*:port' (any address). */
export function parseHostPort(s: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return fail(`${what}: expected host:port (IPv6 as [addr]:port), got "${s}"`);
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) fail(`${what}: "${host}" is not an IPv6 address`);
  if (host !== '*') checkHost(host, what);
  return { host, port: checkPort(Number(m[3]), what) };
}

/** A node from its plain HTTP and HTTPS base URLs (as registered by `rampart serve`). */
export function nodeFromUrls(name: string, httpUrl: string, httpsUrl: string): HaproxyNode {
  const parse = (u: string, proto: 'http:' | 'https:', what: string): { host: string; port: number } => {
    let url: URL;
    try { url = new URL(u); } catch { return fail(`node ${name}: ${what} URL "${u}" is not a URL`); }
    if (url.protocol !== proto) fail(`node ${name}: ${what} URL must start with ${proto}// (got "${u}")`);
    if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
      fail(`node ${name}: ${what} URL must be scheme://host:port only (got "${u}")`);
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return { host: checkHost(host, `node ${name} ${what} host`), port: url.port ? Number(url.port) : proto === 'http:' ? 80 : 443 };
  };
  const h = parse(httpUrl, 'http:', 'plain HTTP');
  const s = parse(httpsUrl, 'https:', 'HTTPS');
  return { name, httpHost: h.host, httpPort: h.port, httpsHost: s.host, httpsPort: s.port };
}

const addr = (host: string): string => (isIP(host) === 6 ? `[${host}]` : host);
const hostPort = (host: string, port: number): string => `${host === '*' ? '' : addr(host)}:${port}`;
const dur = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);
const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

function checkPath(p: string, what: string): string {
  if (!p.startsWith('/')) fail(`${what} must be an absolute path (got "${p}")`);
  // HAProxy splits on spaces and expands quotes, '$' and '\'; refuse rather than escape.
  if (/[\s"'#$\\]/.test(p) || /\p{Cc}/u.test(p)) fail(`${what} must not contain spaces, quotes, #, $ or \\ (got "${p}")`);
  return p;
}

function checkInt(v: number, min: number, max: number, what: string): number {
  if (Number.isInteger(v) && v >= min && v <= max) return v;
  return fail(`${what} must be an integer ${min}..${max} (got ${String(v)})`);
}

interface Resolved {
  nodes: HaproxyNode[];
  http: { host: string; port: number };
  https: { host: string; port: number };
  stats: { host: string; port: number } | null;
  est: { host: string; port: number } | null;
  check: Required<HaproxyCheckOptions>;
  mode: HaproxyMode;
  balance: HaproxyBalance;
  maxconn: number;
  mirror: { host: string; port: number; path: string } | null;
}

function resolve(o: HaproxyConfigOptions): Resolved {
  if (!Array.isArray(o.nodes) || o.nodes.length === 0) fail('at least one node is required');
  const names = new Set<string>();
  for (const n of o.nodes) {
    if (!SERVER_NAME_RE.test(n.name)) fail(`node name "${n.name}" must be 1-64 characters of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
    if (names.has(n.name)) fail(`node name "${n.name}" is given twice`);
    names.add(n.name);
    checkHost(n.httpHost, `node ${n.name} plain HTTP host`);
    checkHost(n.httpsHost, `node ${n.name} HTTPS host`);
    checkPort(n.httpPort, `node ${n.name} plain HTTP`);
    checkPort(n.httpsPort, `node ${n.name} HTTPS`);
  }
  const http = parseHostPort(o.bindHttp, 'bindHttp');
  const https = parseHostPort(o.bindHttps, 'bindHttps');
  if (http.port === https.port && (http.host === https.host || http.host === '*' || https.host === '*')) {
    fail(`bindHttp and bindHttps must differ (both ${o.bindHttp})`);
  }
  const stats = o.statsBind ? parseHostPort(o.statsBind, 'statsBind') : null;
  const est = o.bindEst ? parseHostPort(o.bindEst, 'bindEst') : null;
  const clash = (a: { host: string; port: number }, b: { host: string; port: number }): boolean => a.port === b.port && (a.host === b.host || a.host === '*' || b.host === '*');
  if (est && (clash(est, http) || clash(est, https))) fail(`bindEst must differ from bindHttp and bindHttps (got ${o.bindEst})`);
  if (stats && !isLoopback(stats.host)) fail(`statsBind must be a loopback address (127.x.x.x, ::1 or localhost): the stats page can disable servers (got "${o.statsBind}")`);
  checkPath(o.tlsCertFile, 'tlsCertFile');
  checkPath(o.caFile, 'caFile');
  if (o.statsSocket !== undefined) checkPath(o.statsSocket, 'statsSocket');
  const mode = o.mode ?? 'active-active';
  if (!HAPROXY_MODES.includes(mode)) fail(`mode must be one of ${HAPROXY_MODES.join(', ')} (got "${String(mode)}")`);
  const balance = o.balance ?? DEFAULT_BALANCE;
  if (!HAPROXY_BALANCES.includes(balance)) fail(`balance must be one of ${HAPROXY_BALANCES.join(', ')} (got "${String(balance)}")`);
  const c = o.check ?? {};
  const intervalMs = checkInt(c.intervalMs ?? DEFAULT_CHECK.intervalMs, 100, 3_600_000, 'check interval (ms)');
  const timeoutMs = checkInt(c.timeoutMs ?? DEFAULT_CHECK.timeoutMs, 10, 3_600_000, 'check timeout (ms)');
  if (timeoutMs > intervalMs) fail(`check timeout (${timeoutMs} ms) must not exceed the check interval (${intervalMs} ms)`);
  const check = {
    intervalMs, timeoutMs,
    fall: checkInt(c.fall ?? DEFAULT_CHECK.fall, 1, 100, 'check fall'),
    rise: checkInt(c.rise ?? DEFAULT_CHECK.rise, 1, 100, 'check rise'),
    fastinterMs: checkInt(c.fastinterMs ?? Math.max(100, Math.round(intervalMs / 4)), 100, intervalMs, 'check fastinter (ms)'),
    downinterMs: checkInt(c.downinterMs ?? Math.max(100, Math.round(intervalMs / 2)), 100, 3_600_000, 'check downinter (ms)'),
  };
  const maxconn = checkInt(o.maxconnPerServer ?? 200, 1, 100_000, 'maxconnPerServer');
  const path = o.validationMirrorPath ?? '';
  if (path !== '' && !/^(\/[A-Za-z0-9._~-]+)+$/.test(path)) fail(`validationMirrorPath: "${path}" must be /segment[/segment…] of letters, digits and . _ ~ - (no trailing slash)`);
  if (path !== '' && !o.validationMirror) fail('validationMirrorPath needs validationMirror');
  const mirror = o.validationMirror ? { ...parseHostPort(o.validationMirror, 'validationMirror'), path } : null;
  if (mirror?.host === '*') fail('validationMirror: give the static server\'s address, not *');
  return { nodes: o.nodes, http, https, stats, est, check, mode, balance, maxconn, mirror };
}

export function renderHaproxyConfig(opts: HaproxyConfigOptions): string {
  const r = resolve(opts);
  const { check: c, mode } = r;
  const passive = mode === 'active-passive';
  // Worst case: the death happens just after a check, then `fall` checks that each time out.
  const detectMs = c.intervalMs + c.fall * c.timeoutMs + (c.fall - 1) * c.fastinterMs;
  const checkLine = `check inter ${dur(c.intervalMs)} fastinter ${dur(c.fastinterMs)} downinter ${dur(c.downinterMs)} fall ${c.fall} rise ${c.rise}`;
  const common = `${checkLine} slowstart 10s maxconn ${r.maxconn} observe layer4 error-limit 10 on-error mark-down init-addr last,libc,none`;
  const L: string[] = [];
  const p = (...lines: string[]): void => { L.push(...lines); };

  p(
    '# HAProxy configuration for a Rampart CA cluster, generated by `rampart haproxy-config`.',
    `# Mode: ${mode}. Issuance balance: ${r.balance}. Nodes: ${r.nodes.map((n) => n.name).join(', ')}.`,
    '#',
    '#   validation frontend (plain HTTP)  -> backend validation: OCSP, CRLs, CA certificates,',
    '#                                        every node that answers GET /readyz with 200; while none',
    '#                                        does, every node alive (GET /healthz) answers from its caches',
    '#   api frontend (TLS, HAProxy cert)   -> backend issuance: REST API writes and ACME (/acme), re-encrypted',
    '#                                        to the nodes\' HTTPS port, only nodes answering',
    '#                                        GET /readyz?write=1 with 200, each request balanced on its own',
    passive
      ? '#                                        (in active-passive mode: the active node alone)'
      : '#                                        (in active-active mode: every healthy node)',
    '#                                     -> backend reads: GETs of /api/ and /dashboard, every node',
    '#                                        answering GET /readyz with 200, writable or not',
    ...(r.est ? ['#   est frontend (TCP, TLS passed through) -> backend est: EST (RFC 7030) to the nodes\' HTTPS',
      '#                                        port, writable nodes only (client certificates reach the node)'] : []),
    '#',
    `# A node that dies is taken out within ${dur(detectMs)} (${c.fall} failed checks, the first within`,
    `# ${dur(c.intervalMs)}, then every ${dur(c.fastinterMs)}); requests caught in between are retried on another node.`,
    '# Validate with `haproxy -c -f <this file>`; apply with `systemctl reload haproxy`.',
    '',
    'global',
    '    # Logs go to stdout (the systemd journal when run as a unit).',
    '    log stdout format raw local0 info',
    '    maxconn 4096',
    '    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets',
    '    ssl-default-server-options ssl-min-ver TLSv1.2',
  );
  if (opts.statsSocket) {
    p('    # Admin socket: echo "show servers state" | socat stdio unix-connect:<path>',
      `    stats socket ${opts.statsSocket} mode 600 level admin`);
  }
  p(
    '',
    'defaults',
    '    mode http',
    '    log global',
    '    option httplog',
    '    option dontlognull',
    '    option forwardfor',
    '    timeout connect 2s',
    '    timeout client 30s',
    '    # A node that takes longer than this to answer counts as failed (504, retried).',
    '    timeout server 15s',
    '    timeout http-request 10s',
    '    timeout http-keep-alive 5s',
    '    timeout queue 5s',
    `    timeout check ${dur(c.timeoutMs)}`,
    '    # Layer-7 retries: a request that failed (connection refused or reset, no or',
    '    # broken response, server timeout, 500/502/503/504) is sent again, to another',
    '    # node each time (redispatch 1). This needs the whole request buffered, hence',
    '    # http-buffer-request; bodies larger than tune.bufsize (16 kB) are not retried.',
    '    # Safe here: validation is read-only and issuance carries an Idempotency-Key.',
    '    retries 3',
    '    option redispatch 1',
    '    retry-on all-retryable-errors',
    '    option http-buffer-request',
    '',
    '# ---------------------------------------------------------------- validation',
    '# Plain HTTP on purpose: OCSP and CRL clients do not speak HTTPS (RFC 5280, 6960).',
    'frontend validation',
    `    bind ${hostPort(r.http.host, r.http.port)}`,
  );
  p(
    '    # No ready node: the nodes that are alive but fail a readiness check (their database hangs,',
    '    # their key is unreachable) still answer from what they hold: cached OCSP answers inside',
    '    # their validity, the CRLs in memory, tryLater otherwise. Better than no answer at all.',
    '    use_backend validation_fallback if { nbsrv(validation) eq 0 } { nbsrv(validation_fallback) gt 0 }',
  );
  if (r.mirror) p('    # No node alive: the static copy of validation the leader keeps (mirror.directory).', '    use_backend validation_mirror if { nbsrv(validation) eq 0 }');
  p(
    '    default_backend validation',
  );
  // Every node on its plain HTTP port, checked on `checkPath`; `notes` say what the backend is for.
  const validationBackend = (name: string, checkPath: string, notes: { check: string[]; header?: string[]; server?: string[] }): void => {
    p('', `backend ${name}`, '    balance roundrobin', ...notes.check, `    option httpchk GET ${checkPath}`, '    http-check expect status 200',
      ...notes.header ?? [], '    http-response set-header X-Rampart-Node %[srv_name]', ...notes.server ?? [], `    default-server ${common}`);
    for (const n of r.nodes) p(`    server ${n.name} ${hostPort(n.httpHost, n.httpPort)}`);
  };
  validationBackend('validation', '/readyz', {
    check: ['    # Healthy or degraded nodes answer 200; unhealthy ones 503.'],
    header: ['    # Which node answered, for debugging.'],
    server: [
      '    # observe layer4: 10 consecutive failed connections to a node mark it down until its',
      '    # health checks pass again; slowstart ramps it back up over 10 s. Not layer7: that',
      '    # counts every 5xx answer, and a node shedding load (503 + Retry-After) would be',
      '    # taken out for protecting itself. A node that accepts but hangs fails its checks.',
    ],
  });
  validationBackend('validation_fallback', '/healthz', {
    check: ['    # Used only while no node is ready (frontend validation): every node whose process answers.'],
  });
  if (r.mirror) {
    p(
      '',
      'backend validation_mirror',
      '    # A plain static web server over the mirror directory. An OCSP answer is stored under the',
      '    # SHA-1 (hex) of the standard base64 of its request: a GET carries that base64 in its path',
      '    # (URL-encoded or not), a POST carries the request DER in its body. Requests with a nonce',
      '    # or several certificates have no stored answer (404): clients fall back as for an',
      '    # unreachable responder.',
      '    http-request set-var(txn.ocsp) str(1) if { path /ocsp } || { path_beg /ocsp/ }',
      ...(r.mirror.path ? [`    # The copy lives under ${r.mirror.path} on that server.`, `    http-request set-path ${r.mirror.path}%[path] if !{ var(txn.ocsp) -m found }`] : []),
      `    http-request set-path ${r.mirror.path}/ocsp/%[path,regsub(^/ocsp/,),url_dec,sha1,hex,lower] if METH_GET { path_beg /ocsp/ }`,
      `    http-request set-path ${r.mirror.path}/ocsp/%[req.body,base64,sha1,hex,lower] if METH_POST { var(txn.ocsp) -m found }`,
      '    http-request set-method GET if METH_POST { var(txn.ocsp) -m found }',
      '    http-response set-header Content-Type application/ocsp-response if { var(txn.ocsp) -m found } { status 200 }',
      '    http-response set-header Content-Type application/pkix-crl if { capture.req.uri -m end .crl } { status 200 }',
      '    http-response set-header X-Rampart-Node mirror',
      '    # HTTP/1.1 with a Host header: object stores (S3 path-style endpoints) refuse a check without one.',
      '    option httpchk',
      `    http-check send meth GET uri ${r.mirror.path}/mirror.json ver HTTP/1.1 hdr Host ${hostPort(r.mirror.host, r.mirror.port)}`,
      '    http-check expect status 200',
      `    server mirror ${hostPort(r.mirror.host, r.mirror.port)} ${checkLine}`,
    );
  }
  p(
    '',
    '# ---------------------------------------------------------------- api (issuance)',
    'frontend api',
    `    bind ${hostPort(r.https.host, r.https.port)} ssl crt ${opts.tlsCertFile} alpn http/1.1`,
    '    # The client\'s Host header is passed on unchanged; ACME URLs come from acme.baseUrl',
    '    # (set it to this frontend\'s URL), else from Host and the protocol (https).',
    '    http-request set-header X-Forwarded-Proto https',
    '    # Reads of the REST API and the dashboard go to every ready node, also one that takes',
    '    # no writes (a passive node, or a node of a replica region before its failover). ACME',
    '    # stays on the issuance backend: even its GETs use nonces and account state.',
    '    acl read_method method GET HEAD',
    '    acl read_path path_beg /api/ /dashboard',
    '    use_backend reads if read_method read_path',
    '    default_backend issuance',
    '',
    'backend issuance',
    `    balance ${r.balance}`,
    '    # Every request is balanced on its own, also on a kept-alive client connection:',
    '    # after each response the server connection goes back to the node\'s idle pool',
    '    # (http-reuse safe, the default) and is not preferred for the client\'s next',
    '    # request. ACME clients send nonce, order, challenge and finalize over one',
    '    # connection; any node accepts them (nonces and accounts are cluster-wide).',
    '    no option prefer-last-server',
    '    # Checked on the node\'s plain HTTP port: 200 only while the node accepts issuance',
    '    # and revocation (healthy, and in active-passive mode holding the active lease).',
    '    option httpchk GET /readyz?write=1',
    '    http-check expect status 200',
    '    # Writes without an Idempotency-Key are only retried when they never reached a node',
    '    # (ACME POSTs carry none: a replay would reuse their nonce).',
    '    http-request disable-l7-retry if !METH_GET !{ req.hdr(idempotency-key) -m found }',
    '    http-response set-header X-Rampart-Node %[srv_name]',
  );
  if (passive) {
    p('    # Active-passive: every node is listed, health decides which one is active. When the',
      '    # active lease moves, connections to the former holder are cut (on-marked-down) so',
      '    # clients reconnect; during the takeover no node is writable and HAProxy answers 503.');
  }
  p(
    '    # Re-encrypted to the node\'s HTTPS port; its certificate must chain to the Rampart root.',
    '    # Checks go in plain HTTP to the node\'s HTTP port (`port`, and no-check-ssl).',
    `    default-server ssl verify required ca-file ${opts.caFile} alpn http/1.1 no-check-ssl ${common}${passive ? ' on-marked-down shutdown-sessions' : ''}`,
  );
  const apiServers = (): void => {
    for (const n of r.nodes) {
      const extra = [
        `port ${n.httpPort}`,
        n.httpHost !== n.httpsHost ? `addr ${addr(n.httpHost)}` : '',
        // verifyhost only matches DNS names; nodes addressed by IP get chain verification only.
        isIP(n.httpsHost) === 0 ? `verifyhost ${n.httpsHost}` : '',
      ].filter(Boolean).join(' ');
      p(`    server ${n.name} ${hostPort(n.httpsHost, n.httpsPort)} ${extra}`);
    }
  };
  apiServers();
  p(
    '',
    'backend reads',
    '    balance leastconn',
    '    # Every node that answers GET /readyz with 200, writable or not (as for validation).',
    '    option httpchk GET /readyz',
    '    http-check expect status 200',
    '    http-response set-header X-Rampart-Node %[srv_name]',
    `    default-server ssl verify required ca-file ${opts.caFile} alpn http/1.1 no-check-ssl ${common}`,
  );
  apiServers();
  if (r.stats) {
    p(
      '',
      '# ---------------------------------------------------------------- stats',
      '# Loopback only: the page can put servers in maintenance (drain before upgrades).',
      '# Machine-readable: GET /;csv',
      'listen stats',
      `    bind ${hostPort(r.stats.host, r.stats.port)}`,
      '    stats enable',
      '    stats uri /',
      '    stats refresh 5s',
      '    stats show-legends',
      '    stats admin if LOCALHOST',
    );
  }
  if (r.est) {
    p(
      '',
      '# ---------------------------------------------------------------- est (TLS passed through)',
      '# EST (RFC 7030) re-enrollment is authenticated by the client\'s certificate in the TLS',
      '# handshake: this frontend does not terminate TLS, it passes each connection to a node\'s',
      '# HTTPS port (the node presents its own certificate, which chains to the Rampart root, and',
      '# checks the client\'s). Every node decides alike from the database. No HTTP retries in TCP',
      '# mode: a connection that cannot reach a node is redispatched; an EST client retries the rest.',
      '# The nodes see HAProxy\'s address as the client\'s (per-address rate limits count it).',
      '# Last in the file, after its own defaults: the HTTP options above do not apply to TCP.',
      'defaults',
      '    mode tcp',
      '    log global',
      '    option tcplog',
      '    option dontlognull',
      '    timeout connect 2s',
      '    timeout client 30s',
      '    timeout server 30s',
      '    timeout queue 5s',
      `    timeout check ${dur(c.timeoutMs)}`,
      '    retries 3',
      '    option redispatch 1',
      '',
      'frontend est',
      `    bind ${hostPort(r.est.host, r.est.port)}`,
      '    default_backend est',
      '',
      'backend est',
      `    balance ${r.balance}`,
      '    # The nodes that accept issuance, as for the issuance backend.',
      '    option httpchk GET /readyz?write=1',
      '    http-check expect status 200',
      `    default-server ${common}${passive ? ' on-marked-down shutdown-sessions' : ''}`,
    );
    for (const n of r.nodes) {
      p(`    server ${n.name} ${hostPort(n.httpsHost, n.httpsPort)} port ${n.httpPort}${n.httpHost !== n.httpsHost ? ` addr ${addr(n.httpHost)}` : ''}`);
    }
  }
  return `${L.join('\n')}\n`;
}
