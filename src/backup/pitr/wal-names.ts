/** WAL file names and LSN arithmetic (PostgreSQL's XLogFileName). */

export const WAL_SEGMENT = /^[0-9A-F]{24}$/;
/** Names archive_command may be given: segments, timeline history, backup history, partial segments. */
export const WAL_FILE = /^([0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) throw new Error(`invalid LSN "${lsn}"`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

const hex8 = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');

/** The segment that holds the byte at `lsn`. */
export function segmentName(timeline: number, lsn: bigint, segmentSize: number): string {
  const size = BigInt(segmentSize);
  const perId = 0x1_0000_0000n / size;
  const segno = lsn / size;
  return `${hex8(timeline)}${hex8(segno / perId)}${hex8(segno % perId)}`;
}

/** Segment names from `first` to `last` inclusive (same timeline). */
export function segmentRange(first: string, last: string, segmentSize: number): string[] {
  const perId = 0x1_0000_0000n / BigInt(segmentSize);
  const no = (s: string) => BigInt(`0x${s.slice(8, 16)}`) * perId + BigInt(`0x${s.slice(16, 24)}`);
  const tli = first.slice(0, 8);
  const out: string[] = [];
  for (let n = no(first); n <= no(last); n++) out.push(`${tli}${hex8(n / perId)}${hex8(n % perId)}`);
  return out;
}
