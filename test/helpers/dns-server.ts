/**
 * A tiny authoritative DNS server for tests, on 127.0.0.1 only (UDP and TCP
 * on the same port), built with dns-packet.
 *
 * - TXT: records set at runtime (setTxt / addTxt / clear) plus, when
 *   `filePath` is given, records read from that JSON file on every query, so
 *   an external program (e.g. a lego `exec` DNS provider script) can publish
 *   them. File format: `{ "<name>": ["value", ...], ... }` (a value may
 *   also be an array of character-strings); names are
 *   matched case-insensitively, with or without the trailing dot. A missing
 *   or unparsable file counts as empty (write it atomically: temp + rename).
 * - SOA: answered for any name, with the name itself as a fake zone apex, so
 *   clients that look for the zone of a name find one.
 * - A: `a` (default 127.0.0.1) for any name; `a: null` answers no A records.
 *   AAAA likewise with `aaaa` (default none).
 * - Anything else: NOERROR with no answers (and the SOA in the authority
 *   section). A name without TXT records gives the same NODATA answer, or
 *   NXDOMAIN with `missingTxt: 'nxdomain'`.
 * - setRcode(name, 'SERVFAIL' | 'REFUSED' | ...) makes every query for the
 *   name fail with that rcode, to test resolver failures.
 * - UDP answers larger than the client's buffer (512 bytes, or its EDNS size)
 *   are sent truncated (TC) so that the client retries over TCP.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';

export type DnsRcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';

export interface DnsServerOptions {
  /** Initial TXT records by name. */
  records?: Record<string, TxtValue[]>;
  /** A JSON file of TXT records ({ name: [values] }) reread on every query. */
  filePath?: string;
  /** The A record answered for every name; null for none. Default 127.0.0.1. */
  a?: string | null;
  /** The AAAA record answered for every name; null (the default) for none. */
  aaaa?: string | null;
  /** What a TXT query for a name without TXT records gets. Default 'nodata'. */
  missingTxt?: 'nodata' | 'nxdomain';
  /** TTL of every record. Default 0 (nothing cached). */
  ttl?: number;
  /** Port to listen on (UDP and TCP); default: a free one. */
  port?: number;
}

/** A TXT record: one string (split into 255-byte character-strings as needed), or its character-strings. */
export type TxtValue = string | string[];

export interface DnsQueryLog {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
}

export interface TestDnsServer {
  port: number;
  /** "127.0.0.1:PORT", usable with dns.Resolver#setServers and lego's --dns.resolvers. */
  address: string;
  /** Replaces the TXT records of name (set at runtime; file records are kept apart). */
  setTxt(name: string, values: TxtValue[]): void;
  /** Adds one TXT value to name. */
  addTxt(name: string, value: TxtValue): void;
  /** Removes the runtime TXT records of name. */
  clear(name: string): void;
  /** Removes all runtime TXT records and forced rcodes. */
  clearAll(): void;
  /** The TXT records for name now (runtime and file records). */
  txt(name: string): TxtValue[];
  /** Makes every query for name answer with rcode (null to stop). */
  setRcode(name: string, rcode: DnsRcode | null): void;
  /** Queries received so far, in order. */
  queries: DnsQueryLog[];
  close(): Promise<void>;
}

/** Names compare case-insensitively and without the trailing dot. */
export function normalizeDnsName(name: string): string {
  return name.trim().toLowerCase().replace(/\.+$/, '');
}

const FAKE_SOA = { mname: 'ns.rampart-test.invalid', rname: 'hostmaster.rampart-test.invalid', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 0 };
const MAX_TCP_MESSAGE = 65535;

export async function startDnsServer(options: DnsServerOptions = {}): Promise<TestDnsServer> {
  const runtime = new Map<string, TxtValue[]>();
  const rcodes = new Map<string, DnsRcode>();
  for (const [name, values] of Object.entries(options.records ?? {})) runtime.set(normalizeDnsName(name), [...values]);
  const ttl = options.ttl ?? 0;
  const aValue = options.a === undefined ? '127.0.0.1' : options.a;
  const aaaaValue = options.aaaa ?? null;
  const queries: DnsQueryLog[] = [];

  function fileRecords(): Map<string, TxtValue[]> {
    const out = new Map<string, TxtValue[]>();
    if (!options.filePath) return out;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(options.filePath, 'utf8'));
    } catch {
      return out;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return out;
    for (const [name, values] of Object.entries(parsed as Record<string, unknown>)) {
      const list = (Array.isArray(values) ? values : [values]).filter((v): v is TxtValue =>
        typeof v === 'string' || (Array.isArray(v) && v.every((c) => typeof c === 'string')));
      const key = normalizeDnsName(name);
      out.set(key, [...(out.get(key) ?? []), ...list]);
    }
    return out;
  }

  function txt(name: string): TxtValue[] {
    const key = normalizeDnsName(name);
    return [...(runtime.get(key) ?? []), ...(fileRecords().get(key) ?? [])];
  }

  /** A TXT record's character-strings: given ones, or the value split at 255 bytes. */
  function txtData(value: TxtValue): Buffer[] {
    if (Array.isArray(value)) return value.map((c) => Buffer.from(c, 'utf8').subarray(0, 255));
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length === 0) return [Buffer.alloc(0)];
    const parts: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 255) parts.push(bytes.subarray(i, i + 255));
    return parts;
  }

  function answer(query: DecodedPacket, transport: 'udp' | 'tcp'): Packet {
    const reply: Packet = {
      type: 'response',
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED,
      questions: query.questions,
      answers: [],
      authorities: [],
    };
    const q: Question | undefined = query.questions?.[0];
    if (!q) return { ...reply, flags: (reply.flags ?? 0) | rcodeBits('FORMERR') };
    const name = q.name;
    const key = normalizeDnsName(name);
    queries.push({ name: key, type: q.type, transport });
    const soa: Answer = { type: 'SOA', name, ttl, class: 'IN', data: FAKE_SOA };
    const forced = rcodes.get(key);
    if (forced) return { ...reply, flags: (reply.flags ?? 0) | rcodeBits(forced) };
    const answers: Answer[] = [];
    switch (q.type) {
      case 'TXT':
        for (const value of txt(key)) answers.push({ type: 'TXT', name, ttl, class: 'IN', data: txtData(value) });
        if (answers.length === 0 && options.missingTxt === 'nxdomain') {
          return { ...reply, flags: (reply.flags ?? 0) | rcodeBits('NXDOMAIN'), authorities: [soa] };
        }
        break;
      case 'SOA':
        answers.push(soa);
        break;
      case 'A':
        if (aValue) answers.push({ type: 'A', name, ttl, class: 'IN', data: aValue });
        break;
      case 'AAAA':
        if (aaaaValue) answers.push({ type: 'AAAA', name, ttl, class: 'IN', data: aaaaValue });
        break;
      default:
        break;
    }
    return { ...reply, answers, authorities: answers.length === 0 ? [soa] : [] };
  }

  // UDP
  const onUdpMessage = (udp: dgram.Socket) => udp.on('message', (msg, rinfo) => {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    if (query.type !== 'query') return;
    let reply = answer(query, 'udp');
    let buf = dnsPacket.encode(reply);
    const opt = query.additionals?.find((x) => x.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    const limit = Math.max(512, opt?.udpPayloadSize ?? 512);
    if (buf.length > limit) {
      reply = { ...reply, flags: (reply.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [] };
      buf = dnsPacket.encode(reply);
    }
    udp.send(buf, rinfo.port, rinfo.address);
  });

  // TCP: two-byte length prefix per message (RFC 1035 §4.2.2).
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const msg = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        let query: DecodedPacket;
        try {
          query = dnsPacket.decode(msg);
        } catch {
          socket.destroy();
          return;
        }
        const body = dnsPacket.encode(answer(query, 'tcp'));
        if (body.length > MAX_TCP_MESSAGE) {
          socket.destroy();
          return;
        }
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(body.length, 0);
        socket.write(Buffer.concat([prefix, body]));
      }
    });
  });

  const { port, udp } = await listenBoth(tcp, options.port);
  onUdpMessage(udp);
  udp.on('error', () => { /* a test server: ignore send errors */ });

  return {
    port,
    address: `127.0.0.1:${port}`,
    setTxt(name, values) { runtime.set(normalizeDnsName(name), [...values]); },
    addTxt(name, value) {
      const key = normalizeDnsName(name);
      runtime.set(key, [...(runtime.get(key) ?? []), value]);
    },
    clear(name) { runtime.delete(normalizeDnsName(name)); },
    clearAll() { runtime.clear(); rcodes.clear(); },
    txt,
    setRcode(name, rcode) {
      if (rcode) rcodes.set(normalizeDnsName(name), rcode);
      else rcodes.delete(normalizeDnsName(name));
    },
    queries,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}

function rcodeBits(rcode: DnsRcode): number {
  return { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 }[rcode];
}

/** Binds UDP and TCP to the same port on 127.0.0.1 (a fixed one, or the first free one found). */
async function listenBoth(tcp: net.Server, fixed: number | undefined): Promise<{ port: number; udp: dgram.Socket }> {
  const bindUdp = (port: number) => new Promise<dgram.Socket>((resolve, reject) => {
    const udp = dgram.createSocket('udp4');
    const onError = (e: Error) => { udp.close(); reject(e); };
    udp.once('error', onError);
    udp.bind(port, '127.0.0.1', () => {
      udp.off('error', onError);
      resolve(udp);
    });
  });
  const listenTcp = (port: number) => new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => { tcp.off('listening', onListening); reject(e); };
    const onListening = () => { tcp.off('error', onError); resolve(); };
    tcp.once('error', onError);
    tcp.once('listening', onListening);
    tcp.listen(port, '127.0.0.1');
  });
  if (fixed !== undefined) {
    const udp = await bindUdp(fixed);
    try {
      await listenTcp(fixed);
    } catch (e) {
      udp.close();
      throw e;
    }
    return { port: fixed, udp };
  }
  // Let TCP pick a free port, then take the same UDP port; retry on a clash.
  for (let attempt = 0; attempt < 20; attempt++) {
    await listenTcp(0);
    const port = (tcp.address() as net.AddressInfo).port;
    try {
      return { port, udp: await bindUdp(port) };
    } catch {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    }
  }
  throw new Error('could not bind a DNS test server to one port on 127.0.0.1 for both UDP and TCP');
}
