/**
 * Loads the Rampart configuration: one YAML or JSON file, then environment
 * overrides (RAMPART_<PATH>, `__` between nesting levels), then programmatic
 * overrides, validated by the schema. Every problem is reported at once in a
 * ConfigError naming the field path and, where known, the file or variable it
 * came from. See docs/config.md.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { rampartConfigObject, rampartConfigSchema, type RampartConfig } from './schema.js';

export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export interface LoadConfigOptions {
  /** Config file (.json parsed as JSON, anything else as YAML). Default: $RAMPART_CONFIG, else <dataDir>/rampart.yaml if present. */
  file?: string;
  /** Environment to read RAMPART_* overrides from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Highest-precedence values (e.g. command-line flags); undefined members are ignored. */
  overrides?: DeepPartial<RampartConfig>;
  /** Directory relative paths resolve against when not from the file. Default process.cwd(). */
  cwd?: string;
}

export interface ConfigProblem {
  /** Dotted field path, e.g. "ocsp.maxAgeSeconds" ("" for file-level problems). */
  path: string;
  message: string;
  /** Where the bad value came from: "file /x/rampart.yaml", "env RAMPART_X", "overrides". */
  source?: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${p.path ? `${p.path}: ` : ''}${p.message}${p.source ? ` [from ${p.source}]` : ''}`);
    const n = problems.length;
    super(`Invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${lines.join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: RampartConfig;
  /** Absolute path of the file read, or null when only defaults/env were used. */
  file: string | null;
  /** Names of the environment variables that were applied. */
  envVars: string[];
  /**
   * Where config.publicBaseUrl came from: 'config' (file, environment or
   * overrides), 'recorded' (the data directory's record, see
   * RECORDED_DEFAULTS_FILE) or 'derived' (http://<http.listen>, nothing recorded yet).
   */
  publicBaseUrlSource: 'config' | 'recorded' | 'derived';
  /** The data directory's recorded defaults, when there are any. */
  recorded: RecordedDefaults | null;
}

/**
 * Derived defaults that end up inside certificates (AIA and CDP URLs), fixed
 * for a data directory by the first `rampart init` or `rampart serve` and
 * used by every later command whose configuration does not set them, so that
 * `serve --http ADDR` and a later `rampart issue` agree on where relying
 * parties find OCSP, CRLs and CA certificates. Kept as a file beside
 * rampart.yaml, read before the node opens its database.
 */
export const RECORDED_DEFAULTS_FILE = 'recorded-defaults.json';

export interface RecordedDefaults {
  /** The effective publicBaseUrl (no trailing slash). */
  publicBaseUrl: string;
  recordedAt: string;
  /** The command that recorded it, e.g. "serve --http 127.0.0.1:9000". */
  recordedBy: string;
}

/** The data directory's recorded defaults, or null; a damaged file is a ConfigError (never silently ignored). */
export function readRecordedDefaults(dataDir: string): RecordedDefaults | null {
  const file = join(dataDir, RECORDED_DEFAULTS_FILE);
  if (!existsSync(file)) return null;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<RecordedDefaults>;
    if (typeof v.publicBaseUrl !== 'string' || !/^https?:\/\/[^/]/.test(v.publicBaseUrl)) throw new Error('publicBaseUrl is missing or not an http(s) URL');
    return { publicBaseUrl: v.publicBaseUrl.replace(/\/+$/, ''), recordedAt: String(v.recordedAt ?? ''), recordedBy: String(v.recordedBy ?? '') };
  } catch (e) {
    throw new ConfigError([{ path: 'publicBaseUrl', message: `${file} is damaged (${(e as Error).message}): fix it, or delete it and set publicBaseUrl` , source: `file ${file}` }]);
  }
}

/**
 * Records the configuration's effective publicBaseUrl for its data directory
 * (written atomically). Without `replace` an existing record is kept.
 * Returns the record now in force.
 */
export function recordDefaults(config: Pick<RampartConfig, 'dataDir' | 'publicBaseUrl'>, recordedBy: string, o: { replace?: boolean; now?: Date } = {}): RecordedDefaults {
  const existing = readRecordedDefaults(config.dataDir);
  if (existing && (!o.replace || existing.publicBaseUrl === config.publicBaseUrl)) return existing;
  const rec: RecordedDefaults = { publicBaseUrl: config.publicBaseUrl, recordedAt: (o.now ?? new Date()).toISOString(), recordedBy };
  const file = join(config.dataDir, RECORDED_DEFAULTS_FILE);
  // A node on PostgreSQL (with its key passphrase from the environment) may not have created its data directory yet.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
  return rec;
}

/**
 * What an operator should hear about publicBaseUrl before certificates are
 * issued: an explicit value that differs from the recorded one (certificates
 * issued so far point elsewhere), or no record at all (URLs derived from
 * http.listen, which may not be where the node is served).
 */
export function publicBaseUrlWarnings(loaded: LoadedConfig): string[] {
  const { config, recorded, publicBaseUrlSource: source } = loaded;
  const file = join(config.dataDir, RECORDED_DEFAULTS_FILE);
  if (source === 'config' && recorded && recorded.publicBaseUrl !== config.publicBaseUrl) {
    return [`publicBaseUrl ${config.publicBaseUrl} (from the configuration) differs from ${recorded.publicBaseUrl}, recorded in ${file} by \`${recorded.recordedBy}\`: `
      + `certificates issued so far point at ${recorded.publicBaseUrl}; using ${config.publicBaseUrl}`];
  }
  if (source === 'derived') {
    return [`no publicBaseUrl is recorded for ${config.dataDir} (no \`rampart serve\` or \`rampart init\` has recorded one): `
      + `certificates point at ${config.publicBaseUrl}, derived from http.listen; set publicBaseUrl (rampart.yaml or RAMPART_PUBLIC_BASE_URL) if the node is served elsewhere`];
  }
  return [];
}

export const ENV_PREFIX = 'RAMPART_';
const NOT_CONFIG_ENV = new Set(['RAMPART_CONFIG', 'RAMPART_KEY_PASSPHRASE']);

type Obj = Record<string, unknown>;
type Path = (string | number)[];
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Loads, merges and validates; throws ConfigError. */
export function loadConfig(opts: LoadConfigOptions = {}): RampartConfig {
  return loadConfigDetailed(opts).config;
}

export function loadConfigDetailed(opts: LoadConfigOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const cwd = resolve(opts.cwd ?? process.cwd());
  const overrides = stripUndefined(opts.overrides ?? {}) as Obj;
  const sources = new Map<string, string>();

  // 1. the file
  let file: string | null = null;
  let fileLabel = '';
  if (opts.file) file = resolve(cwd, opts.file);
  else if (env.RAMPART_CONFIG) file = resolve(cwd, env.RAMPART_CONFIG);
  else {
    const dd = typeof overrides.dataDir === 'string' ? overrides.dataDir : env.RAMPART_DATA_DIR || './data';
    const candidate = resolve(cwd, dd, 'rampart.yaml');
    if (existsSync(candidate)) file = candidate;
  }
  let fileData: Obj = {};
  if (file) {
    fileLabel = `file ${file}`;
    fileData = readConfigFile(file, opts.file ? undefined : env.RAMPART_CONFIG ? 'RAMPART_CONFIG' : undefined);
    recordSources(fileData, [], fileLabel, sources);
  }

  // 2. environment, 3. overrides
  const excluded = new Set(NOT_CONFIG_ENV);
  for (const o of [fileData, overrides]) {
    const pe = isObj(o.keys) ? o.keys.passphraseEnv : undefined;
    if (typeof pe === 'string') excluded.add(pe);
  }
  const envLayer = envOverrides(env, fileData, excluded);
  let merged = deepMerge(fileData, envLayer.data);
  for (const [p, name] of envLayer.sources) sources.set(p, `env ${name}`);
  merged = deepMerge(merged, overrides);
  recordSources(overrides, [], 'overrides', sources);
  merged = stripNulls(merged, []) as Obj;

  // dataDir: relative to the file's directory when it came from the file, else to cwd
  if (typeof merged.dataDir === 'string' && merged.dataDir !== '') {
    const base = file && sources.get('dataDir') === fileLabel ? dirname(file) : cwd;
    merged.dataDir = resolve(base, merged.dataDir);
  } else if (merged.dataDir === undefined) {
    merged.dataDir = resolve(cwd, './data');
  }

  // publicBaseUrl not set: the one recorded for the data directory, else derived from http.listen (schema).
  let publicBaseUrlSource: LoadedConfig['publicBaseUrlSource'] = merged.publicBaseUrl === undefined ? 'derived' : 'config';
  const recorded = typeof merged.dataDir === 'string' ? readRecordedDefaults(merged.dataDir) : null;
  if (publicBaseUrlSource === 'derived' && recorded) {
    merged.publicBaseUrl = recorded.publicBaseUrl;
    sources.set('publicBaseUrl', `file ${join(String(merged.dataDir), RECORDED_DEFAULTS_FILE)}`);
    publicBaseUrlSource = 'recorded';
  }

  const result = rampartConfigSchema.safeParse(merged, { reportInput: true, error: errorMap });
  if (!result.success) throw new ConfigError(toProblems(result.error.issues, sources));
  return { config: result.data, file, envVars: envLayer.names, publicBaseUrlSource, recorded };
}

/** Absolute locations derived from the configuration. */
export function resolvedPaths(cfg: Pick<RampartConfig, 'dataDir' | 'database' | 'keys'> & { mirror?: { directory?: string | undefined } }, cwd = process.cwd()) {
  const dataDir = resolve(cwd, cfg.dataDir);
  const secretsDir = join(dataDir, 'secrets');
  const dbPath = cfg.database.path === ':memory:' ? ':memory:' : resolve(dataDir, cfg.database.path ?? 'rampart.db');
  return {
    dataDir,
    dbPath,
    keysDir: join(dataDir, 'keys'),
    secretsDir,
    keyFile: cfg.keys.keyFile ? resolve(dataDir, cfg.keys.keyFile) : join(secretsDir, 'key-encryption.key'),
    mirrorDir: cfg.mirror?.directory ? resolve(dataDir, cfg.mirror.directory) : null,
  };
}

// ---------------------------------------------------------------- file

function readConfigFile(file: string, viaEnv?: string): Obj {
  const label = `config file ${file}${viaEnv ? ` (from ${viaEnv})` : ''}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError([{ path: '', message: `${label}: ${code === 'ENOENT' ? 'not found' : `cannot be read (${code ?? String(e)})`}` }]);
  }
  let data: unknown;
  try {
    data = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (e) {
    const kind = extname(file).toLowerCase() === '.json' ? 'JSON' : 'YAML';
    throw new ConfigError([{ path: '', message: `${label}: invalid ${kind}: ${(e as Error).message.split('\n')[0]}` }]);
  }
  if (data === null || data === undefined) return {};
  if (!isObj(data)) throw new ConfigError([{ path: '', message: `${label}: must contain a mapping (object) at the top level` }]);
  return data;
}

// ---------------------------------------------------------------- environment

type Schema = z.core.$ZodType;
interface Def { type: string; innerType?: Schema; in?: Schema; out?: Schema; shape?: Record<string, Schema>;
  valueType?: Schema; element?: Schema; options?: Schema[] }
const defOf = (s: Schema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Strips optional/default/prefault/nullable/preprocess wrappers. */
function unwrap(s: Schema | undefined): Schema | undefined {
  for (let i = 0; s && i < 20; i++) {
    const d = defOf(s);
    if (d.innerType && ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch'].includes(d.type)) s = d.innerType;
    else if (d.type === 'pipe') s = d.in && defOf(d.in).type === 'transform' ? d.out : d.in;
    else return s;
  }
  return s;
}

function childSchema(s: Schema | undefined, key: string | number): Schema | undefined {
  const u = unwrap(s);
  if (!u) return undefined;
  const d = defOf(u);
  if (d.type === 'object') return d.shape?.[key];
  if (d.type === 'record') return d.valueType;
  if (d.type === 'array') return d.element;
  if (d.type === 'union') return d.options?.map((o) => childSchema(o, key)).find(Boolean);
  return undefined;
}

function objectKeys(s: Schema | undefined): string[] | null {
  const u = unwrap(s);
  if (!u) return null;
  const d = defOf(u);
  if (d.type === 'object') return Object.keys(d.shape ?? {});
  if (d.type === 'union') return [...new Set(d.options?.flatMap((o) => objectKeys(o) ?? []))];
  return null;
}

const screaming = (k: string) => k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]/g, '_').toUpperCase();
const camel = (s: string) => s.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/** Builds the env layer from RAMPART_* variables whose first segment names a top-level field. */
function envOverrides(env: NodeJS.ProcessEnv, fileData: Obj, excluded: Set<string>) {
  const data: Obj = {};
  const sources = new Map<string, string>();
  const names: string[] = [];
  const vars = Object.keys(env)
    .filter((n) => n.startsWith(ENV_PREFIX) && !excluded.has(n) && env[n] !== undefined && env[n] !== '')
    .map((n) => ({ n, segs: n.slice(ENV_PREFIX.length).split('__') }))
    .filter((v) => v.segs.every((s) => /^[A-Z0-9_]+$/i.test(s) && s !== ''))
    .sort((a, b) => a.segs.length - b.segs.length || a.n.localeCompare(b.n));
  for (const { n, segs } of vars) {
    const path: string[] = [];
    let schema: Schema | undefined = rampartConfigObject;
    let existing: unknown = fileData;
    let ok = true;
    for (const [i, seg] of segs.entries()) {
      const u = unwrap(schema);
      const kind = u ? defOf(u).type : undefined;
      let key: string | undefined;
      if (kind === 'record' && isObj(existing)) key = Object.keys(existing).find((k) => screaming(k) === seg.toUpperCase());
      if (kind === 'record') key ??= seg.toLowerCase();
      else key = objectKeys(schema)?.find((k) => screaming(k) === seg.toUpperCase());
      if (key === undefined) {
        if (i === 0) { ok = false; break; } // not a config variable (e.g. a passphrase)
        key = camel(seg); // unknown key: the strict schema reports it, naming this variable
      }
      path.push(key);
      schema = childSchema(schema, key);
      existing = isObj(existing) ? existing[key] : undefined;
    }
    if (!ok) continue;
    setPath(data, path, coerce(env[n]!, schema, n));
    sources.set(formatPath(path), n);
    names.push(n);
  }
  return { data, sources, names };
}

function coerce(raw: string, schema: Schema | undefined, name: string): unknown {
  const u = unwrap(schema);
  const kind = u ? defOf(u).type : 'unknown';
  const v = raw.trim();
  const json = () => {
    try { return JSON.parse(v) as unknown; } catch (e) {
      throw new ConfigError([{ path: '', message: `${name}: not valid JSON: ${(e as Error).message}` }]);
    }
  };
  switch (kind) {
    case 'number':
      return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v) ? Number(v) : raw;
    case 'boolean': {
      const b = v.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(b)) return true;
      if (['false', '0', 'no', 'off'].includes(b)) return false;
      return raw;
    }
    case 'array':
      if (v.startsWith('[')) return json();
      return v.split(',').map((x) => x.trim()).filter((x) => x !== '').map((x) => coerce(x, defOf(u!).element, name));
    case 'object': case 'record': case 'union':
      return v.startsWith('{') || v === 'null' ? json() : raw;
    case 'unknown':
      try { return JSON.parse(v) as unknown; } catch { return raw; }
    default:
      return raw;
  }
}

// ---------------------------------------------------------------- merging

function setPath(target: Obj, path: string[], value: unknown): void {
  let o = target;
  for (const k of path.slice(0, -1)) {
    if (!isObj(o[k])) o[k] = {};
    o = o[k] as Obj;
  }
  o[path[path.length - 1]!] = value;
}

/** Objects merge key by key; arrays, scalars and null replace. */
function deepMerge(base: unknown, over: unknown): Obj {
  const out: Obj = isObj(base) ? { ...base } : {};
  if (!isObj(over)) return out;
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out;
}

function stripUndefined(v: unknown): unknown {
  if (!isObj(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, stripUndefined(x)]));
}

/** null means "use the default", except directly under `profiles`, where it removes a built-in profile. */
function stripNulls(v: unknown, path: string[]): unknown {
  if (!isObj(v)) return v;
  const keepNull = path.length === 1 && path[0] === 'profiles';
  return Object.fromEntries(Object.entries(v)
    .filter(([, x]) => x !== null || keepNull)
    .map(([k, x]) => [k, stripNulls(x, [...path, k])]));
}

function recordSources(v: unknown, path: string[], label: string, sources: Map<string, string>): void {
  if (path.length > 0) sources.set(formatPath(path), label);
  if (isObj(v)) for (const [k, x] of Object.entries(v)) if (x !== undefined) recordSources(x, [...path, k], label, sources);
}

// ---------------------------------------------------------------- errors

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '');
}

function sourceFor(path: readonly PropertyKey[], sources: Map<string, string>): string | undefined {
  for (let i = path.length; i > 0; i--) {
    const s = sources.get(formatPath(path.slice(0, i)));
    if (s) return s;
  }
  return undefined;
}

function showValue(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'undefined' : JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const plural = (n: unknown, word: string) => `${String(n)} ${word}${n === 1 ? '' : 's'}`;

/** Per-parse error map: plain-English messages for zod's built-in checks (schema-level messages win). */
function errorMap(iss: z.core.$ZodRawIssue): string | undefined {
  const i = iss as z.core.$ZodRawIssue & Record<string, unknown>;
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return i.expected === 'int' ? 'must be an integer'
        : i.expected === 'array' ? 'must be a list'
        : i.expected === 'object' || i.expected === 'record' ? 'must be a mapping (object)'
        : `must be a ${String(i.expected)}`;
    case 'too_big': {
      const cmp = i.inclusive === false ? 'less than' : 'at most';
      if (i.origin === 'string') return `must be ${cmp} ${plural(i.maximum, 'character')}`;
      if (i.origin === 'array' || i.origin === 'set') return `must have ${cmp} ${plural(i.maximum, 'entry').replace(/ys$/, 'ies')}`;
      return `must be ${cmp} ${String(i.maximum)}`;
    }
    case 'too_small': {
      const cmp = i.inclusive === false ? 'more than' : 'at least';
      if ((i.origin === 'string' || i.origin === 'array') && i.minimum === 1) return 'must not be empty';
      if (i.origin === 'string') return `must be ${cmp} ${plural(i.minimum, 'character')}`;
      if (i.origin === 'array') return `must have ${cmp} ${plural(i.minimum, 'entry').replace(/ys$/, 'ies')}`;
      return `must be ${cmp} ${String(i.minimum)}`;
    }
    case 'invalid_value':
      return `must be one of ${(i.values as unknown[]).map((v) => showValue(v)).join(', ')}`;
    case 'invalid_format':
      return `has an invalid format (expected ${String(i.format)})`;
    default:
      return undefined;
  }
}

function suggest(key: string, allowed: string[]): string {
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let x = 1; x <= a.length; x++) {
      let prev = d[0]!;
      d[0] = x;
      for (let y = 1; y <= b.length; y++) {
        const t = d[y]!;
        d[y] = Math.min(d[y]! + 1, d[y - 1]! + 1, prev + (a[x - 1] === b[y - 1] ? 0 : 1));
        prev = t;
      }
    }
    return d[b.length]!;
  };
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  const best = allowed.map((k) => ({ k, d: norm(k) === norm(key) ? 0 : dist(key.toLowerCase(), k.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)[0];
  const prefix = allowed.find((k) => key.length >= 3 && norm(k).startsWith(norm(key)));
  if (prefix) return ` (did you mean '${prefix}'?)`;
  if (best && best.d <= Math.max(2, Math.floor(key.length / 3))) return ` (did you mean '${best.k}'?)`;
  return allowed.length ? ` (allowed: ${allowed.join(', ')})` : '';
}

function toProblems(issues: readonly z.core.$ZodIssue[], sources: Map<string, string>): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const iss of issues) {
    if (iss.code === 'unrecognized_keys') {
      let s: Schema | undefined = rampartConfigObject;
      for (const k of iss.path) s = childSchema(s, k as string | number);
      const allowed = objectKeys(s) ?? [];
      for (const k of iss.keys) {
        const path = [...iss.path, k];
        out.push({ path: formatPath(path), message: `unknown key${suggest(k, allowed)}`, source: sourceFor(path, sources) });
      }
      continue;
    }
    const path = formatPath(iss.path);
    // a cross-field check on a value that already failed its own bounds adds nothing
    if (iss.code === 'custom' && out.some((p) => p.path === path)) continue;
    let message = iss.message;
    if (iss.code === 'invalid_key') message = `invalid name ${showValue(iss.input)}: ${iss.issues[0]?.message ?? iss.message}`;
    else if (iss.input !== undefined && !message.includes('(got ')) message += ` (got ${showValue(iss.input)})`;
    out.push({ path, message, source: sourceFor(iss.path, sources) });
  }
  return out;
}
