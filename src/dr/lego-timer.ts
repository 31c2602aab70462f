/**
 * One firing of a client's renewal timer, as users run lego from cron or a
 * systemd timer: obtain a certificate when the account holds none, else
 * `lego renew`, and lego alone decides whether to renew (it asks the
 * server's renewalInfo, RFC 9773, and renews when the suggested window has
 * passed; otherwise it keeps the certificate until 30 days are left). The
 * tick only observes: it compares the serial held before and after.
 * askRenewalInfo reads the server's answer for reports and tests; it
 * decides nothing.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { certIdOf } from '../acme/ari.js';
import { httpCall } from '../core/http-client.js';
import { hasLegoCert, legoCertFile, runLegoCommand, type LegoAccount, type LegoEndpoint, type LegoResult } from './lego-client.js';

export interface AriAnswer { certId: string; start: Date; end: Date; retryAfter: string | null }

/** The leaf lego holds (first PEM block of its .crt). */
export function heldCertificate(a: LegoAccount): X509Certificate {
  return new X509Certificate(readFileSync(legoCertFile(a)));
}

/** The server's renewal information for a certificate (what lego asks, read again for the report). */
export async function askRenewalInfo(e: LegoEndpoint, leaf: X509Certificate): Promise<AriAnswer> {
  const ca = readFileSync(e.caFile, 'utf8');
  const dir = await httpCall<{ renewalInfo?: string }>(e.directory, { ca });
  if (!dir.body.renewalInfo) throw new Error(`the ACME directory ${e.directory} has no renewalInfo URL`);
  const certId = certIdOf(new Uint8Array(leaf.raw));
  const r = await httpCall<{ suggestedWindow?: { start: string; end: string } }>(`${dir.body.renewalInfo}/${certId}`, { ca });
  if (r.status !== 200 || !r.body.suggestedWindow) throw new Error(`renewalInfo ${certId}: HTTP ${r.status}`);
  const retry = r.headers['retry-after'];
  return { certId, start: new Date(r.body.suggestedWindow.start), end: new Date(r.body.suggestedWindow.end), retryAfter: typeof retry === 'string' ? retry : null };
}

export interface TimerTick { account: string; action: 'obtained' | 'renewed' | 'kept'; serial: string; previous: string | null; lego: LegoResult }

const serialOf = (a: LegoAccount): string => heldCertificate(a).serialNumber.toLowerCase();

/** One run of the client's timer: `lego run` when it holds nothing, else `lego renew` (lego's own decision). */
export async function legoTimerTick(a: LegoAccount, e: LegoEndpoint, o: { track?: (pid: number, live: boolean) => void } = {}): Promise<TimerTick> {
  const previous = hasLegoCert(a) ? serialOf(a) : null;
  const command = previous ? 'renew' : 'run';
  const r = await runLegoCommand(a, e, command, { track: o.track });
  if (r.code !== 0) throw new Error(`lego ${command} for ${a.name} failed (exit ${r.code}): ${r.output.slice(-2000)}`);
  const serial = serialOf(a);
  return { account: a.name, action: !previous ? 'obtained' : serial !== previous ? 'renewed' : 'kept', serial, previous, lego: r };
}
