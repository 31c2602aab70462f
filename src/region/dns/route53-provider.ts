/**
 * DNS provider 'route53': Amazon Route 53 through @aws-sdk/client-route-53.
 *
 * update(): reads the record's values first (for the result's `previous`; a
 * failed read is noted in the detail, it does not stop the failover), then
 * ChangeResourceRecordSets with a single UPSERT of the record set (the
 * Comment names the region and the reason), then, with waitSeconds > 0,
 * polls GetChange until the change is INSYNC on every Route 53 name server,
 * failing when it is not within waitSeconds.
 *
 * current(): ListResourceRecordSets from StartRecordName/StartRecordType with
 * MaxItems 1; the values count only when the returned name (trailing dot
 * normalized, case-insensitive) and type match exactly, since Route 53 answers
 * with the next record set in order when there is none of that name and type.
 *
 * Credentials: the two configured environment variables when set (static
 * credentials), else the SDK default chain (instance role, profile, ...).
 */
import {
  ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand, Route53Client, type Route53ClientConfig,
} from '@aws-sdk/client-route-53';
import { fqdn, normalizeDnsName, validateDnsChange, type DnsChange, type DnsProvider, type DnsUpdateResult } from './dns-provider.js';

export interface Route53DnsProviderOptions {
  hostedZoneId: string;
  region: string;
  endpoint?: string;
  accessKeyIdEnv: string;
  secretAccessKeyEnv: string;
  /** 0 = do not wait for INSYNC. */
  waitSeconds: number;
  /** Where the credential variables are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Waits between GetChange polls (tests pass a fake). */
  sleep?: (ms: number) => Promise<void>;
  /** Time between GetChange polls (default 5 s). */
  pollIntervalMs?: number;
}

/** Route 53 limits a change batch comment to 256 characters. */
const MAX_COMMENT = 256;
const DEFAULT_POLL_MS = 5000;

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Route53DnsProvider implements DnsProvider {
  readonly kind = 'route53';
  readonly hostedZoneId: string;
  private readonly client: Route53Client;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly pollMs: number;

  constructor(private readonly o: Route53DnsProviderOptions) {
    this.hostedZoneId = o.hostedZoneId.replace(/^\/hostedzone\//, '');
    if (!/^[A-Z0-9]{1,32}$/.test(this.hostedZoneId)) throw new Error(`Route 53: hosted zone id ${JSON.stringify(o.hostedZoneId)} is not valid`);
    if (!Number.isInteger(o.waitSeconds) || o.waitSeconds < 0) throw new Error('Route 53: waitSeconds must be an integer >= 0');
    this.sleep = o.sleep ?? realSleep;
    this.pollMs = Math.max(1, o.pollIntervalMs ?? DEFAULT_POLL_MS);
    const env = o.env ?? process.env;
    const accessKeyId = env[o.accessKeyIdEnv];
    const secretAccessKey = env[o.secretAccessKeyEnv];
    const cfg: Route53ClientConfig = {
      region: o.region,
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 30_000 },
    };
    if (o.endpoint) cfg.endpoint = o.endpoint;
    if (accessKeyId && secretAccessKey) {
      cfg.credentials = { accessKeyId, secretAccessKey };
    } else if (accessKeyId || secretAccessKey) {
      const [set, unset] = accessKeyId ? [o.accessKeyIdEnv, o.secretAccessKeyEnv] : [o.secretAccessKeyEnv, o.accessKeyIdEnv];
      throw new Error(`Route 53: ${set} is set but ${unset} is not; set both (static credentials) or neither (AWS default credential chain)`);
    }
    this.client = new Route53Client(cfg);
  }

  async current(name: string, type: DnsChange['type']): Promise<string[] | null> {
    let r;
    try {
      r = await this.client.send(new ListResourceRecordSetsCommand({
        HostedZoneId: this.hostedZoneId, StartRecordName: fqdn(name), StartRecordType: type, MaxItems: 1,
      }));
    } catch (e) {
      throw new Error(`Route 53 ListResourceRecordSets for ${name} ${type} in zone ${this.hostedZoneId} failed: ${describeError(e)}`);
    }
    const set = r.ResourceRecordSets?.[0];
    if (!set || set.Type !== type || !set.Name || !sameName(set.Name, name)) return null;
    // Alias records have no values of their own.
    if (!set.ResourceRecords || set.ResourceRecords.length === 0) return null;
    return set.ResourceRecords.map((rr) => rr.Value).filter((v): v is string => typeof v === 'string');
  }

  async update(change: DnsChange): Promise<DnsUpdateResult> {
    validateDnsChange(change);
    let previous: string[] | null = null;
    let previousNote = '';
    try {
      previous = await this.current(change.name, change.type);
    } catch (e) {
      previousNote = `; previous value unknown (${(e as Error).message})`;
    }
    const comment = `Rampart failover to region ${change.region}: ${change.reason}`.slice(0, MAX_COMMENT);
    let r;
    try {
      r = await this.client.send(new ChangeResourceRecordSetsCommand({
        HostedZoneId: this.hostedZoneId,
        ChangeBatch: {
          Comment: comment,
          Changes: [{
            Action: 'UPSERT',
            ResourceRecordSet: {
              Name: fqdn(change.name),
              Type: change.type,
              TTL: change.ttl,
              ResourceRecords: change.targets.map((Value) => ({ Value })),
            },
          }],
        },
      }));
    } catch (e) {
      throw new Error(`Route 53 ChangeResourceRecordSets (UPSERT ${fqdn(change.name)} ${change.type}) in zone ${this.hostedZoneId} failed: ${describeError(e)}`);
    }
    const changeId = r.ChangeInfo?.Id;
    let status = r.ChangeInfo?.Status ?? 'unknown';
    if (!changeId) throw new Error(`Route 53 ChangeResourceRecordSets for ${change.name} answered without a change id`);
    if (this.o.waitSeconds > 0 && status !== 'INSYNC') status = await this.waitInSync(changeId, change.name);
    const waited = this.o.waitSeconds > 0 ? '' : ' (not waiting for INSYNC: waitSeconds 0)';
    return {
      provider: this.kind,
      name: change.name,
      previous,
      targets: [...change.targets],
      detail: `UPSERT ${fqdn(change.name)} ${change.type} ${change.targets.join(',')} ttl ${change.ttl} in zone ${this.hostedZoneId}: change ${changeId} ${status}${waited}${previousNote}`,
    };
  }

  /** Polls GetChange until INSYNC; the sleeps add up to waitSeconds at most. */
  private async waitInSync(changeId: string, name: string): Promise<string> {
    const budget = this.o.waitSeconds * 1000;
    let waited = 0;
    let status = 'PENDING';
    while (waited < budget) {
      const step = Math.min(this.pollMs, budget - waited);
      await this.sleep(step);
      waited += step;
      try {
        const r = await this.client.send(new GetChangeCommand({ Id: changeId }));
        status = r.ChangeInfo?.Status ?? 'unknown';
      } catch (e) {
        throw new Error(`Route 53 GetChange ${changeId} (for ${name}) failed: ${describeError(e)}`);
      }
      if (status === 'INSYNC') return status;
    }
    throw new Error(`Route 53 change ${changeId} for ${name} was still ${status} after ${this.o.waitSeconds}s (waitSeconds); it was submitted and may still complete, check with \`aws route53 get-change --id ${changeId}\``);
  }

  close(): void { this.client.destroy(); }
}

function sameName(a: string, b: string): boolean {
  // Route 53 returns some characters octal-escaped (\052 for *); host names have none of them.
  return normalizeDnsName(a) === normalizeDnsName(b);
}

function describeError(e: unknown): string {
  const err = e as { name?: string; message?: string; messages?: string[]; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  const extra = Array.isArray(err.messages) && err.messages.length > 0 ? ` [${err.messages.join('; ')}]` : '';
  return `${err.name ?? 'Error'}: ${err.message ?? String(e)}${extra}${status ? ` (HTTP ${status})` : ''}`;
}
