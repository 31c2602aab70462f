/**
 * Backups to an S3-compatible target (s3rver on 127.0.0.1 in its own process,
 * a real S3 API server with its own signature checks): `rampart backup
 * create|list|verify` through the CLI with credentials from the configured
 * environment variables, `rampart restore` from the bucket, multipart uploads
 * (several parts, streamed back identical; a failed stream leaves no object),
 * and listings paged with ContinuationToken past 1,000 objects.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { S3Target } from '../src/backup/s3-target.js';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';
import { startS3rver, type S3rverProcess } from './helpers/s3rver-process.js';

const dir = tempDir('rampart-backup-s3-');
const cfgFile = join(dir, 'rampart.yaml');
const ENV = {
  RAMPART_KEY_PASSPHRASE: 'node-key-passphrase-0123', RAMPART_BACKUP_PASSPHRASE: 'backup-passphrase-0123', RAMPART_CONFIG: cfgFile,
  BACKUP_S3_KEY: 'S3RVER', BACKUP_S3_SECRET: 'S3RVER',
};

/** The CLI, with --json. */
function json(dataDir: string, args: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, '--json', ...args], { encoding: 'utf8', env: { ...process.env, ...ENV }, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`rampart ${args.join(' ')}: ${err.message}\n${stderr}${stdout}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

describe('backups on S3 (s3rver)', () => {
  let server: S3rverProcess | undefined;
  let endpoint = '';
  const target = (o: { prefix?: string; pageSize?: number; partBytes?: number } = {}) => new S3Target({
    name: 'bucket', bucket: 'rampart-backups', prefix: o.prefix ?? 'ca1/', region: 'us-east-1', endpoint, forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER',
    ...(o.pageSize ? { pageSize: o.pageSize } : {}), ...(o.partBytes ? { partBytes: o.partBytes } : {}),
  });

  before(async () => {
    server = await startS3rver(join(dir, 's3'), 'rampart-backups');
    endpoint = server.endpoint;
    writeFileSync(cfgFile, [
      'backup:', '  targets:',
      `    - { type: s3, name: bucket, bucket: rampart-backups, prefix: ca1/, endpoint: "${endpoint}", forcePathStyle: true, accessKeyIdEnv: BACKUP_S3_KEY, secretAccessKeyEnv: BACKUP_S3_SECRET }`,
      '',
    ].join('\n'));
  });
  after(async () => {
    await server?.stop();
    removeDir(dir);
  });

  it('create, list, verify and restore through the bucket', async () => {
    const src = join(dir, 'src');
    await json(src, ['init']);
    await json(src, ['issue', '--cn', 's3.example.test', '--san', 's3.example.test']);
    const b = await json(src, ['backup', 'create']);
    assert.equal(b.ok, true);
    assert.deepEqual(b.targets, [{ target: 'bucket', ok: true }]);

    // The objects are in the bucket under the prefix.
    const t = target();
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

  it('a stream larger than a part is a multipart upload, read back identical; a failed stream leaves no object', async () => {
    const t = target({ prefix: 'multipart/', partBytes: 5 << 20 });
    const sent: string[] = [];
    t.client.middlewareStack.add((next, ctx) => async (args) => {
      sent.push(String(ctx.commandName).replace(/Command$/, ''));
      return next(args);
    }, { step: 'initialize' });
    try {
      const data = randomBytes((12 << 20) + 4321);
      async function* pieces(fail = false) {
        for (let o = 0; o < data.length; o += 1 << 20) {
          if (fail && o >= 7 << 20) throw new Error('source failed');
          yield data.subarray(o, o + (1 << 20));
        }
      }
      await t.putStream('big/object', pieces());
      const back: Buffer[] = [];
      for await (const x of (await t.getStream('big/object'))!) back.push(Buffer.from(x));
      const got = Buffer.concat(back);
      assert.equal(got.length, data.length);
      assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
      assert.deepEqual(sent.splice(0), ['CreateMultipartUpload', 'UploadPart', 'UploadPart', 'UploadPart', 'CompleteMultipartUpload', 'GetObject']);
      await assert.rejects(t.putStream('big/failed', pieces(true)), /source failed/);
      assert.deepEqual(sent.splice(0), ['CreateMultipartUpload', 'UploadPart', 'AbortMultipartUpload']);
      assert.equal(await t.getStream('big/failed'), null);
      assert.deepEqual(await t.list('big/'), ['big/object']);
      // A small stream is one PutObject.
      sent.splice(0);
      await t.putStream('small', [Buffer.from('tiny')]);
      assert.deepEqual(sent.splice(0, 1), ['PutObject']);
      assert.equal(Buffer.from((await t.get('small'))!).toString(), 'tiny');
    } finally {
      t.close();
    }
  });

  it('lists past 1,000 objects with ContinuationToken', async () => {
    const t = target({ prefix: 'many/' });
    try {
      const keys = Array.from({ length: 1050 }, (_, i) => `backups/k${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 25) await Promise.all(keys.slice(i, i + 25).map((k) => t.put(k, Buffer.from(k))));
      assert.deepEqual(await t.list('backups/'), keys);
      const small = target({ prefix: 'many/', pageSize: 100 });
      assert.deepEqual(await small.list('backups/k000'), keys.slice(0, 100));
      assert.deepEqual(await small.list(''), keys);
      small.close();
    } finally {
      t.close();
    }
  });
});
