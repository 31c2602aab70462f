import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './load.js';
import { estDefaultProfile } from './est-config.js';

test('est: labels map to configured profiles; unknown profiles and operation names are refused at load', () => {
  const c = loadConfig({ env: { RAMPART_EST__LABELS: '{"servers":"server","dev.ices":"client"}' } });
  assert.deepEqual(c.est.labels, { servers: 'server', 'dev.ices': 'client' });
  assert.equal(estDefaultProfile(c.est, c.profiles), 'client');
  assert.throws(() => loadConfig({ env: { RAMPART_EST__PROFILE: 'nosuch' } }), /est\.profile: "nosuch" is not a configured certificate profile/);
  assert.throws(() => loadConfig({ env: { RAMPART_EST__LABELS: '{"x":"nosuch"}' } }), /est\.labels\.x: "nosuch" is not a configured certificate profile/);
  assert.throws(() => loadConfig({ env: { RAMPART_EST__LABELS: '{"cacerts":"client"}' } }), /must not be an operation name/);
  assert.throws(() => loadConfig({ env: { RAMPART_EST__LABELS: '{"a/b":"client"}' } }), /one path segment/);
  // Disabled: nothing is checked.
  assert.equal(loadConfig({ env: { RAMPART_EST__ENABLED: 'false', RAMPART_EST__PROFILE: 'nosuch' } }).est.enabled, false);
});

test('est: without the client profile and without est.profile, only labels are served', () => {
  const c = loadConfig({ env: { RAMPART_PROFILES__CLIENT: 'null' } });
  assert.equal(estDefaultProfile(c.est, c.profiles), null);
  assert.equal(estDefaultProfile({ ...c.est, profile: 'server' }, c.profiles), 'server');
});
