/** Who is acting, from where and through which channel: attached to every audited action. */
export interface Actor {
  id: string;
  role: string;
  source: string;
  channel: 'api' | 'api-mtls' | 'cli' | 'system' | 'acme';
}

export const SYSTEM_ACTOR: Actor = { id: 'system', role: 'system', source: 'local', channel: 'system' };
