/**
 * Errors of backup and restore ceremonies. Each names what went wrong in
 * words a custodian can act on, and, when a share is at fault, which share
 * (index and custodian) and where it came from.
 */
export type CustodyProblem =
  | 'invalid-request' // bad threshold, custodian list, passphrase policy
  | 'not-exportable' // the backend cannot or may not export the key
  | 'format' // not a share block / not a backup file
  | 'corrupted' // checksum mismatch: the share text was altered
  | 'foreign' // a share of another backup
  | 'conflict' // a share contradicts the backup or another share
  | 'passphrase' // sealed share: passphrase missing or wrong
  | 'insufficient' // fewer than K distinct shares
  | 'reconstruct' // the shares do not reconstruct the key
  | 'mismatch' // restored key does not belong to the CA certificate
  | 'target'; // the node cannot take the restored key (unknown issuer, key present)

export interface ShareRef {
  custodian?: string;
  index?: number;
  source?: string;
}

export class CustodyError extends Error {
  constructor(readonly problem: CustodyProblem, message: string, readonly share?: ShareRef) {
    super(message);
    this.name = 'CustodyError';
  }
}

/** "share 2 (custodian bob, from bob.txt)" */
export function describeShare(s: ShareRef): string {
  const bits: string[] = [];
  if (s.custodian !== undefined) bits.push(`custodian ${s.custodian}`);
  if (s.source) bits.push(`from ${s.source}`);
  const head = s.index !== undefined ? `share ${s.index}` : 'share';
  return bits.length ? `${head} (${bits.join(', ')})` : head;
}
