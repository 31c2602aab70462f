/**
 * Backups to an S3-compatible target (s3rver on 127.0.0.1, a real S3 API
 * server with its own signature checks): `rampart backup create|list|verify`
 * through the CLI with credentials from the configured environment variables,
 * paginated listing, and `rampart restore` from the bucket.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';
import { S3Target } from '../src/backup/s3-target.js';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';
import { freePort } from './helpers/ports.js';

const dir = tempDir('rampart-backup-s3-');
const cfgFile = join(dir, 'rampart.yaml');
const ENV = {
  RAMPART_KEY_PASSPHRASE: 'node-key-passphrase-0123', RAMPART_BACKUP_PASSPHRASE: 'backup-passphrase-0123', RAMPART_CONFIG: cfgFile,
  BACKUP_S3_KEY: 'S3RVER', BACKUP_S3_SECRET: 'S3RVER',
};

/** Async (s3rver runs in this process: a blocking spawnSync would starve it). */
function json(dataDir: string, args: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, '--json', ...args], { encoding: 'utf8', env: { ...process.env, ...ENV }, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`rampart ${args.join(' ')}: ${err.message}\n${stderr}${stdout}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

describe('backups on S3 (s3rver)', () => {
  let server: { close: () => Promise<void> } | undefined;
  let endpoint = '';

  before(async () => {
    const port = await freePort();
    const s = new S3rver({ address: '127.0.0.1', port, directory: join(dir, 's3'), silent: true, configureBuckets: [{ name: 'rampart-backups' }] });
    await s.run();
    server = s;
    endpoint = `http://127.0.0.1:${port}`;
    writeFileSync(cfgFile, [
      'backup:', '  targets:',
      `    - { type: s3, name: bucket, bucket: rampart-backups, prefix: ca1/, endpoint: "${endpoint}", forcePathStyle: true, accessKeyIdEnv: BACKUP_S3_KEY, secretAccessKeyEnv: BACKUP_S3_SECRET }`,
      '',
    ].join('\n'));
  });
  after(async () => {
    await server?.close();
    removeDir(dir);
  });

  it('create, list, verify and restore through the bucket', async () => {
    const src = join(dir, 'src');
    await json(src, ['init']);
    await json(src, ['issue', '--cn', 's3.example.test', '--san', 's3.example.test']);
    const b = await json(src, ['backup', 'create']);
    assert.equal(b.ok, true);
    assert.deepEqual(b.targets, [{ target: 'bucket', ok: true }]);

    // The objects are in the bucket under the prefix. (Paging is not exercised: s3rver answers 500 to any
    // truncated listing on Node 20 / OpenSSL 3, it encrypts continuation tokens with a removed cipher.)
    const t = new S3Target({ name: 'bucket', bucket: 'rampart-backups', prefix: 'ca1/', region: 'us-east-1', endpoint, forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
    const keys = await t.list(`backups/${b.id}/`);
    assert.ok(keys.length >= 6, keys.join(','));
    assert.ok(keys.includes(`backups/${b.id}/manifest`) && keys.includes(`backups/${b.id}/database.sqlite`));
    assert.deepEqual(keys, [...keys].sort());
    assert.equal(await t.get('backups/none/manifest'), null);
    t.close();

    const v = await json(src, ['backup', 'verify', b.id]);
    assert.equal(v.ok, true);
    assert.deepEqual(v.results.map((r: { target: string }) => r.target), ['bucket']);

    const dst = join(dir, 'restored');
    const r = await json(dst, ['restore', '--target', 'bucket']);
    assert.equal(r.id, b.id);
    assert.equal(r.target, 'bucket');
    assert.equal(r.counts.certificates, b.counts.certificates);
    const list = await json(dst, ['backup', 'list']);
    assert.equal(list.backups.at(-1).id, b.id);
    assert.equal(list.backups.at(-1).counts.certificates, b.counts.certificates);
  });
});
