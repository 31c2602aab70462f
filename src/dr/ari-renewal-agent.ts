/**
 * What an ARI-aware ACME client does (RFC 9773 §4.2), around lego: read the
 * certificate it holds, ask the server's renewalInfo for its certID, and
 * renew when the suggested window has opened. Nothing else tells it to
 * renew: after `rampart pki rebuild` the node's answer alone moves it to
 * the new hierarchy. Used by the root-key-loss drill and its tests.
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

export interface AgentTick { account: string; action: 'obtained' | 'renewed' | 'not-due'; serial: string; window?: AriAnswer; lego?: LegoResult }

/** One run of the client's schedule: obtain when it holds nothing, renew when renewal information says the window is open. */
export async function ariTick(a: LegoAccount, e: LegoEndpoint, o: { now?: Date; track?: (pid: number, live: boolean) => void } = {}): Promise<AgentTick> {
  const run = async (command: 'run' | 'renew', window?: AriAnswer): Promise<AgentTick> => {
    const r = await runLegoCommand(a, e, command, { track: o.track });
    if (r.code !== 0) throw new Error(`lego ${command} for ${a.name} failed (exit ${r.code}): ${r.output.slice(-2000)}`);
    return { account: a.name, action: command === 'run' ? 'obtained' : 'renewed', serial: heldCertificate(a).serialNumber.toLowerCase(), window, lego: r };
  };
  if (!hasLegoCert(a)) return run('run');
  const leaf = heldCertificate(a);
  const w = await askRenewalInfo(e, leaf);
  if (w.start.getTime() <= (o.now ?? new Date()).getTime()) return run('renew', w);
  return { account: a.name, action: 'not-due', serial: leaf.serialNumber.toLowerCase(), window: w };
}
