import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isOutOfSpace } from './out-of-space.js';

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

describe('isOutOfSpace', () => {
  it('knows SQLite, file system and PostgreSQL out-of-space errors, also as a cause', () => {
    assert.ok(isOutOfSpace(withCode('database or disk is full', 'SQLITE_FULL')));
    assert.ok(isOutOfSpace(withCode("ENOSPC: no space left on device, write", 'ENOSPC')));
    assert.ok(isOutOfSpace(withCode('could not extend file "base/16384/16390": No space left on device', '53100')));
    assert.ok(isOutOfSpace(new Error('saving failed', { cause: withCode('x', 'EDQUOT') })));
  });

  it('leaves other errors alone', () => {
    assert.ok(!isOutOfSpace(withCode('sorry, too many clients already', '53300')));
    assert.ok(!isOutOfSpace(withCode('duplicate key value', '23505')));
    assert.ok(!isOutOfSpace(new Error('boom')));
    assert.ok(!isOutOfSpace(null));
    assert.ok(!isOutOfSpace('ENOSPC'));
  });
});
