import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AvailabilityError, downtimeBudget, downtimeSeconds, formatDuration, formatMinutes, parseAvailability, parseRevenuePerHour } from './availability.js';

describe('availability arithmetic', () => {
  it('99.9 %: 8.76 h a year, 43.2 min a (30-day) month, 10.1 min a week, 1.44 min a day', () => {
    assert.equal(downtimeSeconds(99.9, 'year'), 31_536);
    assert.equal(downtimeSeconds(99.9, 'month'), 2_592);
    assert.equal(downtimeSeconds(99.9, 'week'), 604.8);
    assert.equal(downtimeSeconds(99.9, 'day'), 86.4);
    assert.deepEqual(downtimeBudget(99.9).human, { year: '8.76 h', month: '43.2 min', week: '10.1 min', day: '1.44 min' });
  });

  it('other targets', () => {
    assert.deepEqual(downtimeBudget(99.95).human, { year: '4.38 h', month: '21.6 min', week: '5.04 min', day: '43.2 s' });
    assert.deepEqual(downtimeBudget(99.99).human, { year: '52.6 min', month: '4.32 min', week: '1.01 min', day: '8.64 s' });
    assert.deepEqual(downtimeBudget(99.999).human, { year: '5.26 min', month: '25.9 s', week: '6.05 s', day: '864 ms' });
    assert.equal(downtimeBudget(99).human.year, '3.65 d');
    assert.equal(downtimeBudget(50).human.day, '12 h');
  });

  it('revenue at risk per period', () => {
    const b = downtimeBudget(99.9, 10_000);
    assert.deepEqual(b.revenueAtRisk, { year: 87_600, month: 7_200, week: 1_680, day: 240 });
    assert.equal(downtimeBudget(99.9).revenueAtRisk, undefined);
  });

  it('parses and validates input', () => {
    assert.equal(parseAvailability('99.95'), 99.95);
    assert.equal(parseAvailability('99.9%'), 99.9);
    assert.equal(parseAvailability(' 90 '), 90);
    for (const bad of ['100', '0', '-1', '101', 'abc', '', '99.9.9', '1e2', 'NaN']) {
      assert.throws(() => parseAvailability(bad), AvailabilityError, bad);
    }
    assert.throws(() => parseAvailability('100'), /less than 100/);
    assert.throws(() => parseAvailability('x'), /percentage such as 99.9/);
    assert.equal(parseRevenuePerHour('1500.5'), 1500.5);
    assert.throws(() => parseRevenuePerHour('-3'), /--revenue-per-hour/);
  });

  it('formats durations', () => {
    assert.equal(formatDuration(0.5), '500 ms');
    assert.equal(formatDuration(59), '59 s');
    assert.equal(formatDuration(3600), '1 h');
    assert.equal(formatMinutes(0), '0');
    assert.equal(formatMinutes(15), '15 min');
    assert.equal(formatMinutes(7 * 24 * 60), '7 d');
    assert.throws(() => formatDuration(-1), AvailabilityError);
  });
});
