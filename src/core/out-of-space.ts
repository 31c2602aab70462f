/**
 * Errors that mean the storage under the node is out of space: the disk of
 * a SQLite node's data directory (SQLITE_FULL, ENOSPC, EDQUOT), or the
 * PostgreSQL server's (SQLSTATE class 53: 53100 disk_full, "could not extend
 * file", 53200 out_of_memory, 53400 configuration_limit_exceeded; not 53300
 * too_many_connections, which the pool retries). Nothing was written by the
 * failed statement, and the same request succeeds once space is freed: the
 * front ends answer 503 with Retry-After, never 500, and the node needs no
 * restart.
 */
const CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT', '53100', '53200', '53400']);
const MESSAGE = /no space left on device|could not extend file|database or disk is full|disk quota exceeded/i;

/** Seconds a client is asked to wait before trying a write refused for lack of space. */
export const OUT_OF_SPACE_RETRY_SECONDS = 5;

export function isOutOfSpace(e: unknown): boolean {
  let x: unknown = e;
  // Bounded walk down the cause chain.
  for (let i = 0; i < 5 && x && typeof x === 'object'; i++) {
    const { code, message, cause } = x as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && CODES.has(code)) return true;
    if (typeof message === 'string' && MESSAGE.test(message)) return true;
    x = cause;
  }
  return false;
}

export const OUT_OF_SPACE_DETAIL = 'the node\'s storage is out of space: writes are refused until space is freed (validation goes on); try again later';
