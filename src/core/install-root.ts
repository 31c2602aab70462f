/**
 * The installation's root directory (the one holding package.json and bin/),
 * found from a module's own directory. The same code runs from src/<layer>/
 * (through tsx) and from the dist/ bundle (scripts/build.mjs), which sit at
 * different depths, so a fixed number of '..' would be wrong in one of them.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function installRoot(fromDir: string): string {
  for (let d = fromDir; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'bin', 'rampart.mjs'))) return d;
    if (dirname(d) === d) throw new Error(`no Rampart installation (package.json and bin/rampart.mjs) above ${fromDir}`);
  }
}
