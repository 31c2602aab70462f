/**
 * The container image is configured by environment only (RAMPART_<PATH>,
 * see load.ts): the ENV block of deploy/container/Containerfile, plus the
 * variables docs/runbooks/container.md tells operators to set, must load into
 * the configuration the image is built for; a mistyped variable is a
 * ConfigError naming it, never silently ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfigDetailed } from './load.js';

const CONTAINERFILE = resolve(import.meta.dirname, '..', '..', 'deploy', 'container', 'Containerfile');

/** The KEY=VALUE pairs of the Containerfile's ENV instructions (with `\` continuations). */
function containerfileEnv(): Record<string, string> {
  const text = readFileSync(CONTAINERFILE, 'utf8').replace(/\\\n/g, ' ');
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const pair of m[1]!.trim().split(/\s+/)) {
      const [k, ...v] = pair.split('=');
      env[k!] = v.join('=');
    }
  }
  return env;
}

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-container-env-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the Containerfile environment: data directory on the volume, both listeners on all interfaces', (t) => {
  const env = containerfileEnv();
  assert.equal(env.RAMPART_DATA_DIR, '/var/lib/rampart');
  // The image's data directory does not exist here: point it at a scratch directory, keep everything else.
  const dataDir = scratch(t);
  const { config, envVars, file } = loadConfigDetailed({ env: { ...env, RAMPART_DATA_DIR: dataDir }, cwd: '/' });
  assert.equal(file, null, 'no file: the container is configured by its environment');
  assert.equal(config.dataDir, dataDir);
  assert.equal(config.http.listen, '0.0.0.0:8080');
  assert.equal(config.https.listen, '0.0.0.0:8443');
  assert.deepEqual(envVars.sort(), ['RAMPART_DATA_DIR', 'RAMPART_HTTPS__LISTEN', 'RAMPART_HTTP__LISTEN']);
});

test('the runbook variables: public URL, TLS names as a comma list, log level; the passphrase is not configuration', (t) => {
  const env = {
    ...containerfileEnv(), RAMPART_DATA_DIR: scratch(t),
    RAMPART_PUBLIC_BASE_URL: 'http://ca.example.com:8080',
    RAMPART_HTTPS__HOSTNAMES: 'ca.example.com, rampart',
    RAMPART_HTTPS__IPS: '127.0.0.1,10.0.0.5',
    RAMPART_LOG__LEVEL: 'warn',
    RAMPART_KEY_PASSPHRASE: 'not-a-config-value',
  };
  const { config, envVars, publicBaseUrlSource } = loadConfigDetailed({ env, cwd: '/' });
  assert.equal(config.publicBaseUrl, 'http://ca.example.com:8080');
  assert.equal(publicBaseUrlSource, 'config');
  assert.deepEqual(config.https.hostnames, ['ca.example.com', 'rampart']);
  assert.deepEqual(config.https.ips, ['127.0.0.1', '10.0.0.5']);
  assert.equal(config.log.level, 'warn');
  assert.ok(!envVars.includes('RAMPART_KEY_PASSPHRASE'));
});

test('a mistyped or invalid variable is an error naming the variable', (t) => {
  const base = { ...containerfileEnv(), RAMPART_DATA_DIR: scratch(t) };
  for (const [name, value, message] of [
    ['RAMPART_HTTP__LISTN', '0.0.0.0:9090', /did you mean 'listen'/],
    ['RAMPART_HTTP__LISTEN', '0.0.0.0', /must be host:port/],
    ['RAMPART_PUBLIC_BASE_URL', 'ca.example.com', /absolute http/],
  ] as const) {
    assert.throws(() => loadConfigDetailed({ env: { ...base, [name]: value }, cwd: '/' }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, message);
      assert.match(e.message, new RegExp(`from env ${name}`));
      return true;
    });
  }
});
