/**
 * The syslog destination: formats each entry as an RFC 5424 message
 * (syslog-format.ts) and sends the batch over TCP (octet-counted, one write
 * per batch) or UDP (a datagram per entry).
 */
import { hostname as osHostname } from 'node:os';
import type { AuditEntry } from '../../core/types.js';
import type { AuditSink, ForwardContext } from './audit-sink.js';
import { SYSLOG_FACILITIES, type SyslogSinkConfig } from '../../config/audit-forward-config.js';
import { formatSyslog, octetCounted } from './syslog-format.js';
import { SyslogTcpSender } from './syslog-tcp.js';
import { SyslogUdpSender } from './syslog-udp.js';

export const DEFAULT_MAX_BYTES = { udp: 2048, tcp: 65536 } as const;

export class SyslogSink implements AuditSink {
  readonly name: string;
  readonly description: string;
  private readonly tcp: SyslogTcpSender | null;
  private readonly udp: SyslogUdpSender | null;
  private readonly facility: number;
  private readonly hostname: string;
  private readonly maxBytes: number;

  constructor(private readonly c: SyslogSinkConfig, private readonly context: () => ForwardContext) {
    this.name = c.name;
    const host = c.host.includes(':') ? `[${c.host}]` : c.host;
    this.description = `syslog ${c.transport} ${host}:${c.port} (facility ${c.facility})`;
    this.tcp = c.transport === 'tcp' ? new SyslogTcpSender({ host: c.host, port: c.port, timeoutMs: c.timeoutSeconds * 1000 }) : null;
    this.udp = c.transport === 'udp' ? new SyslogUdpSender({ host: c.host, port: c.port }) : null;
    this.facility = SYSLOG_FACILITIES[c.facility];
    this.hostname = c.hostname ?? osHostname().split('.')[0] ?? '-';
    this.maxBytes = c.maxMessageBytes ?? DEFAULT_MAX_BYTES[c.transport];
  }

  async send(entries: readonly AuditEntry[]): Promise<void> {
    const context = this.context();
    const messages = entries.map((e) => formatSyslog(e, { facility: this.facility, hostname: this.hostname, maxBytes: this.maxBytes, bom: this.c.bom, context }));
    if (this.tcp) await this.tcp.send(messages.map(octetCounted));
    else await this.udp!.send(messages);
  }

  async close(): Promise<void> {
    await this.tcp?.close();
    await this.udp?.close();
  }
}
