/**
 * Builds the configured forwarding destinations (`audit.forward`). Nothing
 * is opened here: files are opened per batch and connections on first use.
 */
import { resolve } from 'node:path';
import type { AuditSink, ForwardContext } from './audit-sink.js';
import type { AuditSinkConfig } from '../../config/audit-forward-config.js';
import { JsonLinesSink } from './jsonl-sink.js';
import { SyslogSink } from './syslog-sink.js';

export function createAuditSinks(configs: readonly AuditSinkConfig[], o: { dataDir: string; context: () => ForwardContext }): AuditSink[] {
  return configs.map((c) => {
    switch (c.type) {
      case 'jsonl': return new JsonLinesSink(c.name, resolve(o.dataDir, c.path), o.context);
      case 'syslog': return new SyslogSink(c, o.context);
    }
  });
}
