import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, loadConfigDetailed, resolvedPaths } from './load.js';
import { parseListen, rampartConfigSchema } from './schema.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs fn, expects a ConfigError, returns its message. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a ConfigError');
}

test('defaults parse into a complete configuration', (t) => {
  const cwd = tempDir(t);
  const { config: c, file } = loadConfigDetailed({ env: {}, cwd });
  assert.equal(file, null);
  assert.equal(c.dataDir, join(cwd, 'data'));
  assert.equal(c.http.listen, '127.0.0.1:8080');
  assert.deepEqual(c.https, { listen: '127.0.0.1:8443', hostnames: ['localhost'], ips: ['127.0.0.1'] });
  assert.equal(c.publicBaseUrl, 'http://127.0.0.1:8080');
  assert.equal(c.keys.backend, 'software');
  assert.equal(c.keys.passphraseEnv, 'RAMPART_KEY_PASSPHRASE');
  assert.equal(c.database.type, 'sqlite');
  assert.equal(c.hierarchy.root.algorithm, 'ecdsa-p384');
  assert.equal(c.hierarchy.intermediate.validityDays, 1825);
  assert.equal(c.hierarchy.ocspSigner.renewBeforeDays, 10);
  assert.equal(c.ocsp.validitySeconds, 86400);
  assert.equal(c.ocsp.maxAgeSeconds, 3600);
  assert.equal(c.crl.validityHours, 24);
  assert.deepEqual(Object.keys(c.profiles).sort(), ['client', 'server']);
  assert.deepEqual(c.profiles.server!.ekus, ['serverAuth']);
  assert.equal(c.profiles.server!.requireSan, true);
  assert.deepEqual(c.profiles.client!.ekus, ['clientAuth']);
  assert.equal(c.profiles.client!.requireSan, false);
  assert.equal(c.profiles.server!.defaultValidityDays, 90);
  assert.deepEqual(c.profiles.server!.keyTypes.ecdsa.curves, ['P-256', 'P-384']);
  assert.equal(c.api.pageSizeMax, 500);
  assert.equal(c.health.diskFreeMinBytes, 512 * 1024 * 1024);
  assert.equal(c.log.level, 'info');
  // the bare schema gives the same defaults
  assert.equal(rampartConfigSchema.parse({}).ocsp.maxRequestBytes, 4096);
});

test('YAML file is read, merged with defaults, and relative dataDir resolves against its directory', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'rampart.yaml');
  writeFileSync(file, [
    '# comment',
    'dataDir: ./state',
    'http:',
    '  listen: 0.0.0.0:9080',
    'publicBaseUrl: https://pki.example.com/',
    'ocsp:',
    '  maxAgeSeconds: 120',
    'profiles:',
    '  server:',
    '    allowedNames: ["*.example.com", localhost]',
    '    maxValidityDays: 30',
    '  iot-device:',
    '    ekus: [clientAuth]',
    '    requireSan: false',
    '',
  ].join('\n'));
  const c = loadConfig({ file, env: {} });
  assert.equal(c.dataDir, join(dir, 'state'));
  assert.equal(c.http.listen, '0.0.0.0:9080');
  assert.equal(c.publicBaseUrl, 'https://pki.example.com');
  assert.equal(c.ocsp.maxAgeSeconds, 120);
  assert.equal(c.ocsp.validitySeconds, 86400);
  assert.deepEqual(c.profiles.server!.allowedNames, ['*.example.com', 'localhost']);
  assert.deepEqual(c.profiles.server!.ekus, ['serverAuth'], 'built-in server values survive a partial override');
  assert.equal(c.profiles.server!.defaultValidityDays, 30, 'default lifetime follows a lower maximum');
  assert.deepEqual(c.profiles['iot-device']!.ekus, ['clientAuth']);
  assert.ok(c.profiles.client, 'built-in client profile is kept');
});

test('JSON file works; null removes a built-in profile', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'conf.json');
  writeFileSync(file, JSON.stringify({
    https: { hostnames: ['ca.internal'], ips: [] },
    crl: { validityHours: 48 },
    profiles: { client: null },
    log: { level: 'debug' },
  }));
  const c = loadConfig({ file, env: {}, cwd: dir });
  assert.deepEqual(c.https.hostnames, ['ca.internal']);
  assert.deepEqual(c.https.ips, []);
  assert.equal(c.crl.validityHours, 48);
  assert.deepEqual(Object.keys(c.profiles), ['server']);
  assert.equal(c.log.level, 'debug');
});

test('file is found through RAMPART_CONFIG, then <dataDir>/rampart.yaml', (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'a.yaml');
  writeFileSync(a, 'log:\n  level: warn\n');
  assert.equal(loadConfig({ env: { RAMPART_CONFIG: a }, cwd: dir }).log.level, 'warn');

  const dataDir = join(dir, 'dd');
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, 'rampart.yaml'), 'log:\n  level: error\n');
  const r = loadConfigDetailed({ env: { RAMPART_DATA_DIR: dataDir }, cwd: dir });
  assert.equal(r.file, join(dataDir, 'rampart.yaml'));
  assert.equal(r.config.log.level, 'error');
  assert.equal(r.config.dataDir, dataDir);

  const missing = configError(() => loadConfig({ env: { RAMPART_CONFIG: join(dir, 'nope.yaml') } }));
  assert.match(missing.message, /nope\.yaml \(from RAMPART_CONFIG\): not found/);
});

test('environment overrides win over the file, and overrides win over both', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'rampart.yaml');
  writeFileSync(file, 'http:\n  listen: 127.0.0.1:8000\nocsp:\n  maxAgeSeconds: 100\nprofiles:\n  server:\n    allowIpSans: false\n');
  const r = loadConfigDetailed({
    file,
    env: {
      RAMPART_HTTP__LISTEN: '127.0.0.1:9000',
      RAMPART_OCSP__MAX_AGE_SECONDS: '60',
      RAMPART_PROFILES__SERVER__ALLOW_IP_SANS: 'true',
      RAMPART_PROFILES__SERVER__KEY_TYPES__RSA__MIN_BITS: '3072',
      RAMPART_PROFILES__SERVER__EKUS: 'serverAuth, clientAuth',
      RAMPART_HTTPS__HOSTNAMES: '["a.example","b.example"]',
      RAMPART_DATA_DIR: 'var/rampart',
      RAMPART_KEY_PASSPHRASE: 'not a config field',
      RAMPART_SOMETHING_ELSE: 'ignored',
    },
    overrides: { log: { level: 'trace' }, crl: { validityHours: undefined } },
    cwd: dir,
  });
  const c = r.config;
  assert.equal(c.http.listen, '127.0.0.1:9000');
  assert.equal(c.publicBaseUrl, 'http://127.0.0.1:9000');
  assert.equal(c.ocsp.maxAgeSeconds, 60);
  assert.equal(c.profiles.server!.allowIpSans, true);
  assert.equal(c.profiles.server!.keyTypes.rsa.minBits, 3072);
  assert.deepEqual(c.profiles.server!.ekus, ['serverAuth', 'clientAuth']);
  assert.deepEqual(c.https.hostnames, ['a.example', 'b.example']);
  assert.equal(c.dataDir, join(dir, 'var/rampart'), 'env dataDir resolves against cwd');
  assert.equal(c.log.level, 'trace');
  assert.equal(c.crl.validityHours, 24);
  assert.ok(!r.envVars.includes('RAMPART_KEY_PASSPHRASE'));
  assert.ok(r.envVars.includes('RAMPART_HTTP__LISTEN'));

  const o = loadConfig({ file, env: { RAMPART_HTTP__LISTEN: '127.0.0.1:9000' }, overrides: { http: { listen: '127.0.0.1:7000' } } });
  assert.equal(o.http.listen, '127.0.0.1:7000');
});

test('bad values give clear errors with the path and the source', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'rampart.yaml');
  writeFileSync(file, [
    'http:',
    '  listen: nonsense',
    'hierarchy:',
    '  root:',
    '    algorithm: dsa-1024',
    '    validityDays: 0',
    'profiles:',
    '  server:',
    '    ekus: [serverAuth, bogus]',
    '    allowedIpRanges: [10.0.0.0/33]',
    'publicBaseUrl: ftp://example.com',
    '',
  ].join('\n'));
  const e = configError(() => loadConfig({ file, env: { RAMPART_OCSP__MAX_AGE_SECONDS: '9999999', RAMPART_API__PAGE_SIZE_MAX: 'lots' } }));
  const m = e.message;
  assert.match(m, /^Invalid configuration \(8 problems\):/);
  assert.ok(m.includes(
    'ocsp.maxAgeSeconds: must be at most 604800 (got 9999999) [from env RAMPART_OCSP__MAX_AGE_SECONDS]'), m);
  assert.ok(m.includes('api.pageSizeMax: must be a number (got "lots") [from env RAMPART_API__PAGE_SIZE_MAX]'), m);
  assert.ok(m.includes(`http.listen: must be host:port`), m);
  assert.ok(m.includes(`[from file ${file}]`), m);
  assert.match(m, /hierarchy\.root\.algorithm: must be one of "ecdsa-p256", .* \(got "dsa-1024"\)/);
  assert.match(m, /hierarchy\.root\.validityDays: must be at least 1 \(got 0\)/);
  assert.match(m, /profiles\.server\.ekus\[1\]: must be one of .* \(got "bogus"\)/);
  assert.match(m, /profiles\.server\.allowedIpRanges\[0\]: must be a CIDR range/);
  assert.match(m, /publicBaseUrl: must be an absolute http:\/\/ or https:\/\/ URL \(got "ftp:\/\/example.com"\)/);
  assert.equal(e.problems.length, 8);
  assert.deepEqual(e.problems.find((p) => p.path === 'ocsp.maxAgeSeconds')?.source, 'env RAMPART_OCSP__MAX_AGE_SECONDS');
});

test('unknown keys are rejected, naming the key path', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'rampart.json');
  writeFileSync(file, JSON.stringify({ ocsp: { maxAge: 5 }, colour: 'blue', profiles: { server: { keyTypes: { dsa: {} } } } }));
  const e = configError(() => loadConfig({ file, env: { RAMPART_HTTP__LISTN: '1.2.3.4:80' } }));
  assert.match(e.message, /ocsp\.maxAge: unknown key \(did you mean 'maxAgeSeconds'\?\)/);
  assert.match(e.message, /colour: unknown key \(allowed: dataDir, http,/);
  assert.match(e.message, /profiles\.server\.keyTypes\.dsa: unknown key/);
  assert.match(e.message, /http\.listn: unknown key \(did you mean 'listen'\?\) \[from env RAMPART_HTTP__LISTN\]/);
});

test('cross-field checks give clear errors', (t) => {
  const cwd = tempDir(t);
  const e = configError(() => loadConfig({
    env: {},
    cwd,
    overrides: {
      hierarchy: { ocspSigner: { validityDays: 10, renewBeforeDays: 10 }, root: { validityDays: 365 } },
      profiles: { server: { maxValidityDays: 30, defaultValidityDays: 60 } },
      ocsp: { validitySeconds: 3000, refreshBeforeSeconds: 7200 },
      crl: { validityHours: 1, regenerateEveryMinutes: 60 },
      health: { diskFreeMinBytes: 1000, diskFreeCriticalBytes: 2000 },
    },
  }));
  const m = e.message;
  assert.match(m, /hierarchy\.ocspSigner\.renewBeforeDays: must be less than hierarchy\.ocspSigner\.validityDays \(10\)/);
  assert.match(m, /hierarchy\.intermediate\.validityDays: must not exceed hierarchy\.root\.validityDays \(365\)/);
  assert.match(m, /profiles\.server\.defaultValidityDays: must be at most maxValidityDays \(30\) \(got 60\) \[from overrides\]/);
  assert.match(m, /ocsp\.refreshBeforeSeconds: must be less than ocsp\.validitySeconds \(3000\)/);
  assert.match(m, /ocsp\.maxAgeSeconds: must not exceed ocsp\.validitySeconds/);
  assert.match(m, /crl\.regenerateEveryMinutes: must be less than crl\.validityHours in minutes \(60\)/);
  assert.match(m, /health\.diskFreeCriticalBytes: must not exceed health\.diskFreeMinBytes \(1000\)/);
});

test('malformed files are reported with the file name', (t) => {
  const dir = tempDir(t);
  const y = join(dir, 'bad.yaml');
  writeFileSync(y, 'http:\n  listen: [unclosed\n');
  assert.match(configError(() => loadConfig({ file: y, env: {} })).message, /bad\.yaml: invalid YAML/);
  const j = join(dir, 'bad.json');
  writeFileSync(j, '{"http": ');
  assert.match(configError(() => loadConfig({ file: j, env: {} })).message, /bad\.json: invalid JSON/);
  const l = join(dir, 'list.yaml');
  writeFileSync(l, '- a\n- b\n');
  assert.match(configError(() => loadConfig({ file: l, env: {} })).message, /must contain a mapping/);
  const empty = join(dir, 'empty.yaml');
  writeFileSync(empty, '# nothing yet\n');
  assert.equal(loadConfig({ file: empty, env: {} }).log.level, 'info');
});

test('resolvedPaths gives absolute locations', () => {
  const c = loadConfig({ env: {}, cwd: '/srv', overrides: { dataDir: '/var/lib/rampart' } });
  assert.deepEqual(resolvedPaths(c), {
    dataDir: '/var/lib/rampart',
    dbPath: '/var/lib/rampart/rampart.db',
    keysDir: '/var/lib/rampart/keys',
    secretsDir: '/var/lib/rampart/secrets',
    keyFile: '/var/lib/rampart/secrets/key-encryption.key',
    mirrorDir: null,
  });
  const d = loadConfig({ env: {}, overrides: { dataDir: '/d', database: { path: 'db/x.db' }, keys: { keyFile: '/etc/k' }, mirror: { directory: 'mirror' } } });
  assert.equal(resolvedPaths(d).dbPath, '/d/db/x.db');
  assert.equal(resolvedPaths(d).keyFile, '/etc/k');
  assert.equal(resolvedPaths(d).mirrorDir, '/d/mirror');
});

test('database: postgres section with defaults, env overrides and validation', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'rampart.yaml');
  writeFileSync(file, [
    'database:',
    '  type: postgres',
    '  hosts: [db1.example.com:5432, "10.0.0.6:5433", "[2001:db8::7]:5432"]',
    '  poolMax: 20',
    '',
  ].join('\n'));
  const r = loadConfigDetailed({
    file,
    env: { RAMPART_DATABASE__RETRY_FOR_SECONDS: '5', RAMPART_DATABASE__TARGET_SESSION_ATTRS: 'primary', RAMPART_DATABASE_PASSWORD: 'not a config field' },
  });
  assert.deepEqual(r.config.database, {
    type: 'postgres',
    hosts: ['db1.example.com:5432', '10.0.0.6:5433', '[2001:db8::7]:5432'],
    database: 'rampart',
    user: 'rampart',
    passwordEnv: 'RAMPART_DATABASE_PASSWORD',
    targetSessionAttrs: 'primary',
    poolMax: 20,
    connectTimeoutSeconds: 5,
    retryForSeconds: 5,
  });
  assert.ok(!r.envVars.includes('RAMPART_DATABASE_PASSWORD'), 'the password variable is not a config override');
  const viaEnv = loadConfig({ env: { RAMPART_DATABASE__TYPE: 'postgres', RAMPART_DATABASE__HOSTS: 'a.example:5432, b.example:5432' }, cwd: dir });
  assert.deepEqual(viaEnv.database.hosts, ['a.example:5432', 'b.example:5432']);
  assert.equal(loadConfig({ env: {}, cwd: dir }).database.type, 'sqlite', 'sqlite stays the default and needs no hosts');

  const missing = configError(() => loadConfig({ env: {}, cwd: dir, overrides: { database: { type: 'postgres' } } }));
  assert.match(missing.message, /database\.hosts: is required when database\.type is 'postgres'/);
  const bad = configError(() => loadConfig({
    env: {}, cwd: dir,
    overrides: { database: { type: 'postgres', hosts: ['db1', 'db2:0'], targetSessionAttrs: 'read-only' as never, poolMax: 0, connectTimeoutSeconds: 61, retryForSeconds: 601 } },
  }));
  assert.match(bad.message, /database\.hosts\[0\]: must be host:port/);
  assert.match(bad.message, /database\.hosts\[1\]: must be host:port/);
  assert.match(bad.message, /database\.targetSessionAttrs: must be one of "read-write", "any", "primary", "standby", "prefer-standby"/);
  assert.match(bad.message, /database\.poolMax: must be at least 1/);
  assert.match(bad.message, /database\.connectTimeoutSeconds: must be at most 60/);
  assert.match(bad.message, /database\.retryForSeconds: must be at most 600/);
  const empty = configError(() => loadConfig({ env: {}, cwd: dir, overrides: { database: { type: 'postgres', hosts: [] } } }));
  assert.match(empty.message, /database\.hosts: must not be empty/);

  // pg_auto_failover's monitor, by environment: the defaults fill in.
  const monitored = loadConfig({ env: { RAMPART_DATABASE__TYPE: 'postgres', RAMPART_DATABASE__HOSTS: 'a:5432,b:5432', RAMPART_DATABASE__MONITOR__URI: 'postgres://autoctl_node@mon:5432/pg_auto_failover' }, cwd: dir });
  assert.deepEqual(monitored.database.monitor, { uri: 'postgres://autoctl_node@mon:5432/pg_auto_failover', formation: 'default', group: 0, everySeconds: 2 });
  const badMonitor = configError(() => loadConfig({ env: {}, cwd: dir, overrides: { database: { type: 'postgres', hosts: ['a:5432'], monitor: { uri: 'http://mon:5432', everySeconds: 0 } } } }));
  assert.match(badMonitor.message, /database\.monitor\.uri: a postgres:\/\/ connection string/);
  assert.match(badMonitor.message, /database\.monitor\.everySeconds: must be at least 1/);
});

test('parseListen accepts host:port forms', () => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('[::1]:8443'), { host: '::1', port: 8443 });
  assert.deepEqual(parseListen('ca.example.com:0'), { host: 'ca.example.com', port: 0 });
  assert.equal(parseListen('127.0.0.1'), null);
  assert.equal(parseListen('127.0.0.1:70000'), null);
  assert.equal(parseListen('::1:80'), null);
});

test('rampart.example.yaml is valid and matches the defaults', () => {
  const example = new URL('../../rampart.example.yaml', import.meta.url).pathname;
  const fromExample = loadConfig({ file: example, env: {}, cwd: '/srv' });
  const defaults = loadConfig({ env: {}, cwd: '/srv' });
  assert.deepEqual({ ...fromExample, dataDir: '' }, { ...defaults, dataDir: '' });
});

test('http.trustedProxies: addresses and CIDR ranges, loopback by default, from env as a list', () => {
  assert.deepEqual(loadConfig({ env: {} }).http.trustedProxies, ['127.0.0.1', '::1']);
  const c = loadConfig({ env: { RAMPART_HTTP__TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.7,2001:db8::/32' } });
  assert.deepEqual(c.http.trustedProxies, ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
  assert.deepEqual(loadConfig({ env: { RAMPART_HTTP__TRUSTED_PROXIES: '[]' } }).http.trustedProxies, []);
  for (const bad of ['10.0.0.0/33', 'example.com', '2001:db8::/129', '10.0.0.1/', '1.2.3']) {
    const e = configError(() => loadConfig({ env: { RAMPART_HTTP__TRUSTED_PROXIES: bad } }));
    assert.match(e.message, /http\.trustedProxies\[0\]: must be an IPv4 or IPv6 address or a CIDR range/, bad);
  }
});
