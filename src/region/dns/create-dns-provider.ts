/**
 * Chooses and builds the DNS provider that the `dns` configuration names
 * (dns-config.ts): null for 'none' (failover then says DNS was not changed),
 * otherwise the file, exec or Route 53 provider. Relative file paths resolve
 * against `baseDir` (the data directory), else the working directory.
 */
import { isAbsolute, resolve } from 'node:path';
import type { DnsConfig } from '../../config/dns-config.js';
import type { DnsProvider } from './dns-provider.js';
import { ExecDnsProvider } from './exec-provider.js';
import { FileDnsProvider } from './file-provider.js';
import { Route53DnsProvider } from './route53-provider.js';

export interface CreateDnsProviderOptions {
  /** Environment for credentials (route53) and the command (exec); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Directory relative file paths resolve against; default the working directory. */
  baseDir?: string;
}

export function createDnsProvider(cfg: DnsConfig, opts: CreateDnsProviderOptions = {}): DnsProvider | null {
  const env = opts.env ?? process.env;
  switch (cfg.provider) {
    case 'none':
      return null;
    case 'file':
      return new FileDnsProvider({ path: isAbsolute(cfg.path) ? cfg.path : resolve(opts.baseDir ?? process.cwd(), cfg.path) });
    case 'exec':
      return new ExecDnsProvider({ command: cfg.command, timeoutSeconds: cfg.timeoutSeconds, env });
    case 'route53':
      return new Route53DnsProvider({
        hostedZoneId: cfg.hostedZoneId,
        region: cfg.region,
        ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
        accessKeyIdEnv: cfg.accessKeyIdEnv,
        secretAccessKeyEnv: cfg.secretAccessKeyEnv,
        waitSeconds: cfg.waitSeconds,
        env,
      });
    default: {
      const never: never = cfg;
      throw new Error(`unknown DNS provider ${JSON.stringify((never as { provider?: unknown }).provider)}`);
    }
  }
}
