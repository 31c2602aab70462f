/**
 * Syslog over UDP (RFC 5426): one datagram per message, from one unconnected
 * socket. "Delivered" only means the kernel took the datagram: UDP has no
 * acknowledgement and an unconnected socket hears nothing back, so a UDP
 * destination is best effort by nature (use tcp, or the JSON-lines file, for
 * a record that must arrive). Message size is bounded by the formatter
 * (`maxMessageBytes`, default 2048 for udp).
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

export interface SyslogUdpOptions {
  host: string;
  port: number;
}

export class SyslogUdpSender {
  private socket: Socket | null = null;

  constructor(private readonly o: SyslogUdpOptions) {}

  async send(messages: readonly Buffer[]): Promise<void> {
    const s = this.open();
    for (const m of messages) {
      await new Promise<void>((resolve, reject) => {
        s.send(m, this.o.port, this.o.host, (err) => (err ? reject(new Error(`syslog udp ${this.o.host}:${this.o.port}: ${err.message}`)) : resolve()));
      }).catch((e: unknown) => {
        this.drop();
        throw e;
      });
    }
  }

  async close(): Promise<void> {
    this.drop();
  }

  private open(): Socket {
    if (this.socket) return this.socket;
    const s = createSocket(isIP(this.o.host) === 6 ? 'udp6' : 'udp4');
    s.on('error', () => { if (this.socket === s) this.drop(); });
    s.unref();
    this.socket = s;
    return s;
  }

  private drop(): void {
    const s = this.socket;
    this.socket = null;
    try { s?.close(); } catch { /* already closed */ }
  }
}
