/**
 * Whether a dNSName is a preferred-name-syntax host name (RFC 5280 4.2.1.6,
 * RFC 1034 3.5, RFC 1123 2.1): LDH labels of 1-63 characters, no leading or
 * trailing hyphen, at most 253 characters, no trailing dot, no underscore,
 * and a wildcard only as the whole leftmost label (BR 7.1.2.7.12).
 */
export function dnsNameProblem(name: string): string | null {
  if (name.length === 0) return 'dNSName is empty';
  if (name === ' ') return 'dNSName is a single space';
  if (name.length > 253) return `dNSName "${name}" is longer than 253 characters`;
  if (name.endsWith('.')) return `dNSName "${name}" ends with a dot`;
  const labels = name.split('.');
  for (const [i, label] of labels.entries()) {
    if (label === '*') {
      if (i !== 0) return `dNSName "${name}" has a wildcard outside the leftmost label`;
      if (labels.length < 3) return `dNSName "${name}": a wildcard must be followed by at least two labels`;
      continue;
    }
    if (label.includes('*')) return `dNSName "${name}" has a partial wildcard label "${label}" (only "*" as the whole leftmost label is allowed)`;
    if (label.length === 0) return `dNSName "${name}" has an empty label`;
    if (label.length > 63) return `dNSName "${name}" has a label longer than 63 characters`;
    if (label.includes('_')) return `dNSName "${name}" has an underscore in label "${label}"`;
    if (!/^[A-Za-z0-9-]+$/.test(label)) return `dNSName "${name}" has a label "${label}" that is not letters, digits and hyphens`;
    if (label.startsWith('-') || label.endsWith('-')) return `dNSName "${name}" has a label "${label}" that starts or ends with a hyphen`;
  }
  return null;
}
