/**
 * Regenerates the table of fault-lab figures in docs/runbooks/fault-lab.md
 * from a recorded series of scenario runs (test/lab/results/*.json, written by
 * `RAMPART_LAB_RESULTS_DIR=test/lab/results npm test -- fault-lab`).
 *   npm run lab:table            # rewrite the table
 *   npm run lab:table -- --check # exit 1 when the table is not what the results give
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readResults, renderResultsTable, replaceTable } from '../test/lab/results-table.js';
import { RECORDED_RESULTS_DIR } from '../test/lab/scenario.js';

const RESULTS_DIR = process.env.RAMPART_LAB_RESULTS_DIR ?? RECORDED_RESULTS_DIR;

const doc = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'runbooks', 'fault-lab.md');
const before = readFileSync(doc, 'utf8');
const results = readResults(RESULTS_DIR);
const after = replaceTable(before, renderResultsTable(results));
if (process.argv.includes('--check')) {
  if (after !== before) {
    console.error(`${doc}: the fault-lab table is not what ${RESULTS_DIR} gives; run npm run lab:table`);
    process.exitCode = 1;
  } else {
    console.log('fault-lab table up to date');
  }
} else {
  writeFileSync(doc, after);
  console.log(`${doc}: ${results.length} scenario(s)`);
}
