// Builds dist/: the CLI and every worker thread's entry as ESM bundles of
// src/ (esbuild; packages stay external and load from node_modules), plus the
// dashboard's assets. bin/rampart.mjs runs dist/ when it is newer than every
// file under src/ and the TypeScript sources through tsx otherwise, so a
// checkout works without a build and a build is never stale.
//
// Why: loading ~550 TypeScript modules through tsx's loader hooks costs about
// twice the CPU of loading one bundle, in every CLI command and node start.
//
// A worker's entry keeps the file name its module looks for next to itself
// (`new URL('./pki-worker-entry.mjs', import.meta.url)`), so in dist/ the
// same expression, now relative to the bundle, finds the bundled worker.
import { build } from 'esbuild';
import { cpSync, mkdirSync, rmSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// `--out DIR` builds elsewhere (the container's build context): the checkout's
// dist/ is never replaced while processes may be starting from it.
const outArg = process.argv.indexOf('--out');
const DIST = outArg > 0 ? resolve(process.argv[outArg + 1] ?? '') : join(ROOT, 'dist');
const TMP = `${DIST}.tmp`;

/** Output file name in dist/ → source module. */
export const ENTRIES = {
  'rampart.mjs': 'src/cli/main.ts',
  'pki-worker-entry.mjs': 'src/pki/pool/pki-worker.ts',
  'sqlite-reader-entry.mjs': 'src/storage/sqlite/sqlite-reader-worker.ts',
  'sqlite-snapshot-entry.mjs': 'src/storage/sqlite/sqlite-snapshot-worker.ts',
  'sqlite-checkpoint-worker.mjs': 'src/storage/sqlite/sqlite-checkpoint-worker.mjs',
  'integrity-worker-entry.mjs': 'src/integrity/integrity-worker.ts',
  'tls-front-worker.mjs': 'src/http/tls-front/tls-front-worker.mjs',
};

rmSync(TMP, { recursive: true, force: true });
mkdirSync(TMP, { recursive: true });
const started = Date.now();
await build({
  absWorkingDir: ROOT,
  entryPoints: Object.entries(ENTRIES).map(([out, src]) => ({ in: src, out: out.replace(/\.mjs$/, '') })),
  outdir: TMP,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: false,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  tsconfig: join(ROOT, 'tsconfig.json'),
  sourcemap: 'linked',
  logLevel: 'warning',
});
cpSync(join(ROOT, 'src/dashboard/assets'), join(TMP, 'assets'), { recursive: true });
writeFileSync(join(TMP, 'README'), 'Built by scripts/build.mjs from src/ (npm run build). bin/rampart.mjs uses it only when it is newer than every file under src/.\n');
rmSync(DIST, { recursive: true, force: true });
renameSync(TMP, DIST);
process.stderr.write(`${DIST} built in ${Date.now() - started} ms\n`);
