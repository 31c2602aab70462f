/**
 * Which CRL shard lists a certificate: the serial's low bits (random, RFC
 * 5280 serials from src/core/serial.ts) modulo the number of shards, as
 * Let's Encrypt's Boulder assigns explicit shards from the serial's random
 * low bytes. Computed once, at issuance, and stored with the certificate:
 * changing `crl.shards` later moves no existing certificate.
 */
export function crlShardOf(serialHex: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new Error('shards must be a positive integer');
  const hex = serialHex.replace(/:/g, '');
  // The last 12 hex digits are plenty for any shard count up to 2^48 and stay exact in a double.
  return parseInt(hex.slice(-12) || '0', 16) % shards;
}
