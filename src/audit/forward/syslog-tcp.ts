/**
 * Syslog over TCP (RFC 6587, octet-counted frames): one connection, opened
 * on demand and again after any failure.
 *
 * Plain TCP syslog has no acknowledgements, so "delivered" means: written to
 * the connection, flushed to the kernel within the timeout, and the
 * connection still open a moment later. A server that went away is noticed
 * by the FIN/RST it sends (the connection is marked broken at once, and the
 * next batch reconnects first), and a close that arrives within the settle
 * window after a write fails that batch, which is then sent again (a
 * duplicate rather than a loss). What a server accepted into its socket
 * buffer and then dropped while crashing cannot be told apart from a
 * delivery: that is the protocol's limit (RELP or a TLS transport with
 * application acks would close it).
 */
import { connect, type Socket } from 'node:net';

/** How long a connection must stay open after a write for the batch to count. */
const SETTLE_MS = 100;

export interface SyslogTcpOptions {
  host: string;
  port: number;
  timeoutMs: number;
}

export class SyslogTcpSender {
  private socket: Socket | null = null;

  constructor(private readonly o: SyslogTcpOptions) {}

  /** Writes the frames (already octet-counted) on one connection; rejects when delivery is in doubt. */
  async send(frames: readonly Buffer[]): Promise<void> {
    if (!frames.length) return;
    const s = await this.connection();
    let closedEarly: Error | null = null;
    const onClose = (): void => { closedEarly ??= new Error('the syslog server closed the connection'); };
    const onError = (e: Error): void => { closedEarly = e; };
    s.on('close', onClose);
    s.on('error', onError);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          s.destroy();
          reject(new Error(`writing to syslog ${this.where()} timed out after ${this.o.timeoutMs} ms`));
        }, this.o.timeoutMs);
        s.write(Buffer.concat(frames), (err) => {
          clearTimeout(timer);
          if (err) reject(err); else resolve();
        });
      });
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      if (closedEarly || s.destroyed || this.socket !== s) {
        throw new Error(`connection to syslog ${this.where()} closed right after the write (${(closedEarly as Error | null)?.message ?? 'closed'}): the batch is sent again`);
      }
    } catch (e) {
      this.drop(s);
      throw e;
    } finally {
      s.off('close', onClose);
      s.off('error', onError);
    }
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = null;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { s.destroy(); resolve(); }, 1000);
      t.unref();
      s.end(() => { clearTimeout(t); s.destroy(); resolve(); });
    });
  }

  private where(): string {
    return `${this.o.host.includes(':') ? `[${this.o.host}]` : this.o.host}:${this.o.port}`;
  }

  private drop(s: Socket): void {
    if (this.socket === s) this.socket = null;
    s.destroy();
  }

  private connection(): Promise<Socket> {
    const cur = this.socket;
    if (cur && !cur.destroyed && cur.writable) return Promise.resolve(cur);
    if (cur) this.drop(cur);
    return new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: this.o.host, port: this.o.port });
      s.unref();
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`connecting to syslog ${this.where()} timed out after ${this.o.timeoutMs} ms`));
      }, this.o.timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.setNoDelay(true);
        s.setKeepAlive(true, 30_000);
        // A server that goes away is noticed now, not at the next write.
        s.on('end', () => this.drop(s));
        s.on('close', () => this.drop(s));
        s.on('error', () => this.drop(s));
        s.on('data', () => { /* syslog servers send nothing; RFC 6587 has no replies */ });
        this.socket = s;
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        s.destroy();
        reject(new Error(`cannot connect to syslog ${this.where()}: ${e.message}`));
      });
    });
  }
}
