#!/usr/bin/env node
// Entry point. Runs the build in dist/ (npm run build: one bundle, loads in
// about half the time) when it is newer than every file under src/; otherwise
// the TypeScript sources through tsx's ESM loader, so a checkout works with
// `npx rampart` and `npm start` without a build step and never runs a stale
// build. RAMPART_FROM_SOURCE=1 forces the sources. The project's tsconfig.json
// is named explicitly: tsx would otherwise look for one in the working
// directory, and the CLI must work from anywhere (e.g. a PostgreSQL
// archive_command runs in the data directory).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time of a file under `dir` (recursively), or Infinity when one is newer than `limit`. */
function newestUnder(dir, limit) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const m = e.isDirectory() ? newestUnder(p, limit) : statSync(p).mtimeMs;
    if (m > limit) return Infinity;
    if (m > newest) newest = m;
  }
  return newest;
}

function freshBuild() {
  if (process.env.RAMPART_FROM_SOURCE === '1') return null;
  let built;
  try {
    built = statSync(join(root, 'dist', 'rampart.mjs')).mtimeMs;
  } catch {
    return null;
  }
  return newestUnder(join(root, 'src'), built) <= built ? join(root, 'dist', 'rampart.mjs') : null;
}

const dist = freshBuild();
if (dist) {
  process.setSourceMapsEnabled(true);
  await import(dist);
} else {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: join(root, 'tsconfig.json') });
  await import('../src/cli/main.ts');
}
