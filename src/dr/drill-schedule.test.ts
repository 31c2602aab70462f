import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../config/load.js';
import { applicableScenarios } from './drill-schedule.js';

const config = (overrides: Record<string, unknown>) => loadConfig({ overrides: { dataDir: '/tmp/rampart-schedule-test', ...overrides } as never, env: {} });

test('scenarios apply to what a node has: SSH profiles, an extractable PKCS#11 key backend, PostgreSQL', () => {
  const plain = applicableScenarios(config({}));
  assert.deepEqual(plain, ['restore-latest', 'key-restore', 'database-corruption', 'root-key-loss']);
  const ssh = applicableScenarios(config({ ssh: { profiles: { ops: { type: 'user', ca: 'ops', principals: { 'role:admin': ['ops'] } } } } }));
  assert.ok(ssh.includes('ssh-key-restore'));
  const hsm = applicableScenarios(config({ keys: { backend: 'pkcs11', pkcs11: { tokens: ['pkcs11:token=a'], extractable: true } } }));
  assert.ok(hsm.includes('hsm-failure') && hsm.includes('key-restore'));
  const sealed = applicableScenarios(config({ keys: { backend: 'pkcs11', pkcs11: { tokens: ['pkcs11:token=a'], extractable: false } } }));
  assert.ok(!sealed.includes('hsm-failure') && !sealed.includes('key-restore'));
  const pg = applicableScenarios(config({ database: { type: 'postgres', hosts: ['127.0.0.1:5432'] } }));
  assert.ok(pg.includes('node-loss') && pg.includes('database-failover') && !pg.includes('point-in-time') && !pg.includes('datacenter-loss') && pg.includes('database-corruption-postgres'));
  const regions = applicableScenarios(config({
    database: { type: 'postgres', hosts: ['127.0.0.1:5432'] }, cluster: { mode: 'active-active' },
    regions: { self: 'A', sites: { A: { database: { hosts: ['127.0.0.1:5432'] } }, B: { database: { hosts: ['127.0.0.1:5433'] } } } },
  }));
  assert.ok(regions.includes('datacenter-loss'));
});
