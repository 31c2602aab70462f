/**
 * The generated table of fault-lab figures: results files in a directory
 * become one row each (ordered by scenario number), a failing verdict is
 * shown, and the table goes between the runbook's markers (text around them
 * kept; missing markers refused); the runbook's table is the recorded series'.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readResults, renderResultsTable, replaceTable, TABLE_BEGIN, TABLE_END } from './results-table.js';
import { RECORDED_RESULTS_DIR, type ScenarioFigures } from './scenario.js';

const RUNBOOK = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'runbooks', 'fault-lab.md');

const figures = (id: string, ok: boolean): ScenarioFigures => ({
  id, title: `title of ${id}`, ok, verdict: ok ? 'PASS: 10 operations, no violation' : 'FAIL: 1 violation(s); first: [lost-ack] x | y',
  counts: { issue: { acknowledged: 5, failed: 1, unknown: 2 }, revoke: { acknowledged: 3, failed: 0, unknown: 1 }, ocsp: { acknowledged: 40, failed: 0, unknown: 0 } },
  longestGapMs: { issuance: 9700, validation: 860 }, date: '2026-12-06T21:22:21.019Z', commit: 'abc1234', loadAverage: 7.5, notes: [],
});

describe('fault-lab results table', () => {
  it('one row per results file, in scenario order, between the markers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-lab-results-'));
    try {
      writeFileSync(join(dir, '10-later.json'), JSON.stringify(figures('10-later', true)));
      writeFileSync(join(dir, '3-db.json'), JSON.stringify(figures('3-db', false)));
      writeFileSync(join(dir, 'notes.txt'), 'not a result');
      const results = readResults(dir);
      assert.deepEqual(results.map((r) => r.id), ['3-db', '10-later']);
      const table = renderResultsTable(results);
      const rows = table.split('\n').slice(2);
      assert.equal(rows.length, 2);
      assert.match(rows[0]!, /^\| 3: title of 3-db \| 5 \/ 1 \/ 2 \| 3 \/ 0 \/ 1 \| 40 \/ 0 \/ 0 \| 0\.9 s \| 9\.7 s \| \*\*FAIL: .*x \\\| y\*\* \| 2026-12-06 21:22, abc1234, 7\.5 \|$/);
      assert.match(rows[1]!, /\| PASS \|/);
      const doc = `# Runbook\n\nbefore\n${TABLE_BEGIN}\nold table\n${TABLE_END}\nafter\n`;
      const out = replaceTable(doc, table);
      assert.equal(out, `# Runbook\n\nbefore\n${TABLE_BEGIN}\n${table}\n${TABLE_END}\nafter\n`);
      assert.equal(replaceTable(out, table), out, 'regenerating changes nothing');
      assert.throws(() => replaceTable('# no markers', table), /no fault-lab table markers/);
      assert.match(renderResultsTable([]), /no results yet/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the runbook\'s table is what the recorded series (test/lab/results) gives', () => {
    const doc = readFileSync(RUNBOOK, 'utf8');
    const results = readResults(RECORDED_RESULTS_DIR);
    assert.ok(results.length >= 7, `the recorded series has every scenario (${results.map((r) => r.id).join(', ')})`);
    assert.equal(replaceTable(doc, renderResultsTable(results)), doc, 'run npm run lab:table after recording a series');
  });
});
