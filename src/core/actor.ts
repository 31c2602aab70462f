/** Who is acting, from where and through which channel: attached to every audited action. */
export interface Actor {
  id: string;
  role: string;
  source: string;
  channel: 'api' | 'api-mtls' | 'cli' | 'system' | 'acme' | 'est';
}

export const SYSTEM_ACTOR: Actor = { id: 'system', role: 'system', source: 'local', channel: 'system' };

/** The actor columns of an audit entry. */
export function actorFields(a: Actor): { actor: string; source: string; channel: Actor['channel'] } {
  return { actor: a.id, source: a.source, channel: a.channel };
}
