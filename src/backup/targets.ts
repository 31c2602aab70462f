/** Builds the configured backup targets; none configured: a directory target "local" at <dataDir>/backups. */
import { resolve } from 'node:path';
import type { RampartConfig } from '../config/schema.js';
import { DirectoryTarget } from './directory-target.js';
import { S3Target } from './s3-target.js';
import type { BackupTarget } from './target.js';

export function createTargets(config: Pick<RampartConfig, 'backup' | 'dataDir'>, env: NodeJS.ProcessEnv = process.env): BackupTarget[] {
  const dataDir = resolve(config.dataDir);
  if (config.backup.targets.length === 0) return [new DirectoryTarget('local', resolve(dataDir, 'backups'))];
  const names = new Set<string>();
  return config.backup.targets.map((t) => {
    if (names.has(t.name)) throw new Error(`backup.targets: the name "${t.name}" is used twice`);
    names.add(t.name);
    if (t.type === 'directory') return new DirectoryTarget(t.name, resolve(dataDir, t.path));
    return s3TargetFrom(t.name, t, env, `backup target ${t.name}`);
  });
}

type S3Settings = Omit<Extract<RampartConfig['backup']['targets'][number], { type: 's3' }>, 'type' | 'name'>;

/** An S3 target from its configuration, credentials from the environment variables it names (else the AWS default chain). */
export function s3TargetFrom(name: string, t: S3Settings, env: NodeJS.ProcessEnv, what: string): S3Target {
  const accessKeyId = env[t.accessKeyIdEnv];
  const secretAccessKey = env[t.secretAccessKeyEnv];
  if (accessKeyId && !secretAccessKey) throw new Error(`${what}: ${t.accessKeyIdEnv} is set but ${t.secretAccessKeyEnv} is not`);
  return new S3Target({
    name, bucket: t.bucket, prefix: t.prefix, region: t.region, forcePathStyle: t.forcePathStyle,
    ...(t.endpoint ? { endpoint: t.endpoint } : {}), ...(accessKeyId ? { accessKeyId, secretAccessKey } : {}),
  });
}

/** Picks one target by name (all when name is undefined); a clear error for an unknown name. */
export function pickTargets(all: BackupTarget[], name?: string): BackupTarget[] {
  if (name === undefined) return all;
  const t = all.find((x) => x.name === name);
  if (!t) throw new Error(`no backup target named "${name}" (configured: ${all.map((x) => x.name).join(', ')})`);
  return [t];
}

export function closeTargets(ts: BackupTarget[]): void {
  for (const t of ts) (t as { close?: () => void }).close?.();
}
