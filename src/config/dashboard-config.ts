/**
 * The web dashboard's charts: how often the node samples its own metrics
 * into the in-memory history (src/metrics/metric-history.ts) and how many
 * points it keeps (default 10 s × 360 = one hour).
 */
import { z } from 'zod';

export const dashboardSchema = z.strictObject({
  historySampleSeconds: z.number().int().min(1).max(3600).default(10)
    .describe('Seconds between two samples of the metric history the dashboard charts show.'),
  historyPoints: z.number().int().min(2).max(8640).default(360)
    .describe('Samples kept in memory (the charts span historySampleSeconds × historyPoints).'),
}).describe('Web dashboard charts.');
