// Finds every *.test.ts under src/ and test/ and runs them with node's test
// runner (through tsx). Extra arguments are passed on as file filters.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = [...walk('src', []), ...walk('test', [])]
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Child CLI processes and nodes run the dist/ build when it is fresh (bin/rampart.mjs): build it first.
const b = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
if (b.status !== 0) {
  process.exitCode = b.status ?? 1;
} else {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}
