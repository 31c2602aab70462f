/**
 * The `audit` configuration section: where audit entries are forwarded (a
 * JSON-lines file, syslog over TCP or UDP), how often, and how often the
 * hash chain is verified by the `auditChain` health check. Wired into
 * src/config/schema.ts as `audit: auditSchema.prefault({})`; docs/config.md
 * documents the same fields.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

/** RFC 5424 section 6.2.1 facility codes, by their usual names. */
export const SYSLOG_FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  ntp: 12, security: 13, console: 14, 'solaris-cron': 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;
const FACILITY_NAMES = Object.keys(SYSLOG_FACILITIES) as [SyslogFacility, ...SyslogFacility[]];

const HOST_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

const sinkName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/i, { message: 'must be 1-63 letters, digits, - or _ (it names the cursor in the database and the metric label)' })
  .describe('Name of this destination: keys its cursor in the database (`audit.forward.<name>.seq`) and labels its metrics. Renaming it forwards the whole log again.');

const jsonlSink = z.strictObject({
  type: z.literal('jsonl').describe("'jsonl': one JSON object per line appended to a file."),
  name: sinkName,
  path: z.string().min(1).max(4096).describe('File the entries are appended to (created when missing; fsynced after every batch). Relative paths resolve against dataDir.'),
}).describe('A JSON-lines file.');

const syslogSink = z.strictObject({
  type: z.literal('syslog').describe("'syslog': RFC 5424 messages to a syslog server or SIEM collector."),
  name: sinkName,
  transport: z.enum(['tcp', 'udp']).default('tcp')
    .describe("'tcp': octet-counted framing (RFC 6587), reconnects after failures, an entry counts as sent once written to the connection; 'udp': one datagram per entry (RFC 5426), no delivery guarantee at all."),
  host: z.string().refine((s) => isIP(s) !== 0 || HOST_RE.test(s), { message: 'must be a host name or an IP address' })
    .describe('Syslog server host name or IP address.'),
  port: z.number().int().min(1).max(65535).default(514).describe('Syslog server port.'),
  facility: z.enum(FACILITY_NAMES).default('local0')
    .describe("Syslog facility. Default local0: a facility of its own lets the collector route Rampart's audit stream without mixing it with sshd/sudo/PAM messages (auth/authpriv); pick authpriv when your pipeline expects security events there."),
  hostname: z.string().regex(/^[\x21-\x7e]{1,255}$/, { message: 'must be 1-255 printable ASCII characters without spaces' }).optional()
    .describe('HOSTNAME field of the messages. Default: the node host name.'),
  maxMessageBytes: z.number().int().min(480).max(1048576).optional()
    .describe('Largest message (header, structured data and JSON); a longer JSON MSG is truncated, never the header or structured data. Default 2048 for udp (safe for RFC 5426 receivers), 65536 for tcp.'),
  bom: z.boolean().default(false)
    .describe('Prefix the MSG with a UTF-8 BOM (RFC 5424 MSG-UTF8). Default false: the JSON MSG is escaped to plain ASCII, so no BOM is needed and receivers that keep the BOM in the text are not confused.'),
  timeoutSeconds: z.number().int().min(1).max(300).default(10).describe('tcp: connect and write timeout.'),
}).describe('A syslog server (RFC 5424).');

export const auditSinkSchema = z.discriminatedUnion('type', [jsonlSink, syslogSink]);
export type AuditSinkConfig = z.output<typeof auditSinkSchema>;
export type SyslogSinkConfig = z.output<typeof syslogSink>;

export const auditSchema = z.strictObject({
  forward: z.array(auditSinkSchema).max(16).default([])
    .superRefine((sinks, ctx) => {
      const seen = new Set<string>();
      for (const [i, s] of sinks.entries()) {
        if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate name "${s.name}": every destination needs its own name` });
        seen.add(s.name);
      }
    })
    .describe('Destinations every audit entry is forwarded to, in seq order and at least once, by the cluster leader (or the single node). Each follows the audit table from its own cursor.'),
  forwardEverySeconds: z.number().int().min(1).max(3600).default(5).describe('How often the leader looks for new audit entries to forward.'),
  forwardBatchSize: z.number().int().min(1).max(5000).default(500).describe('Entries sent to a destination per batch (the cursor is saved after each acknowledged batch).'),
  forwardRetryMaxSeconds: z.number().int().min(1).max(3600).default(300)
    .describe('Longest wait before a failing destination is tried again (the wait doubles from 2 s); the other destinations carry on meanwhile.'),
  verifyEveryMinutes: z.number().min(0.05).max(10080).default(10)
    .describe('How often every node verifies the audit hash chain for the `auditChain` health check (only the entries added since the last run; fractions allowed).'),
  fullVerifyEveryRuns: z.number().int().min(1).max(10000).default(6)
    .describe('Every this many verification runs the whole chain is re-hashed from the first entry (catches changes to entries verified before); 1 = always.'),
}).describe('Audit log forwarding to a SIEM and periodic chain verification.');

export type AuditConfig = z.output<typeof auditSchema>;
