/**
 * Which data node pg_auto_failover's monitor names primary, asked every few
 * seconds: the pool connects there first (PgPool.preferPrimary).
 *
 * Why: a primary cut off from its standby and the monitor keeps running and
 * stays read-write, blocking every commit on synchronous replication, while
 * the monitor promotes the standby. target_session_attrs cannot tell the two
 * apart (both are primaries), so a pool that lists the old one first stays
 * on it until it is demoted, which pg_auto_failover does only once the
 * partition heals (the fault lab's scenario 3 measured 34-61 s without
 * issuance). The monitor is the authority that promoted the standby; asking
 * it is using the HA manager, not deciding anything ourselves. An error or
 * no answer (the monitor down, a failover under way) changes nothing.
 */
import postgres from 'postgres';

export interface MonitorPrimaryOptions {
  /** The monitor's connection string (postgres://autoctl_node@host:port/pg_auto_failover). */
  uri: string;
  formation: string;
  group: number;
  everyMs: number;
  /** Called with the primary's host and port at every answer. */
  onPrimary: (host: string, port: number) => void;
  onError?: (e: unknown) => void;
}

/** Starts asking; returns stop(). */
export function watchMonitorPrimary(o: MonitorPrimaryOptions): () => Promise<void> {
  const sql = postgres(o.uri, { max: 1, connect_timeout: 3, idle_timeout: 0, onnotice: () => undefined, connection: { application_name: 'rampart primary-watch' } });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const ask = async (): Promise<void> => {
    try {
      const rows = await Promise.race([
        sql<{ host: string; port: number }[]>`SELECT primary_host AS host, primary_port AS port FROM pgautofailover.get_primary(${o.formation}, ${o.group})`,
        new Promise<never>((_, reject) => { setTimeout(() => reject(new Error('no answer from the pg_auto_failover monitor within 3 s')), 3000).unref(); }),
      ]);
      const r = rows[0];
      if (r && !stopped) o.onPrimary(r.host, Number(r.port));
    } catch (e) {
      if (!stopped) o.onError?.(e);
    }
  };
  const loop = (): void => {
    if (stopped) return;
    running = ask().finally(() => {
      if (stopped) return;
      timer = setTimeout(loop, o.everyMs);
      timer.unref();
    });
  };
  loop();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await running;
    await sql.end({ timeout: 1 }).catch(() => undefined);
  };
}
