/**
 * A PKI worker thread (pki-pool.ts): runs the jobs of pki-jobs.ts for the
 * thread that answers requests and posts each result back by its id.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../../core/thread-priority.js';
import { runJob, toJobError, transferables, type Job } from './pki-jobs.js';

if (!parentPort) throw new Error('pki-worker.ts runs as a worker thread');
// A background pool (the node's CRL encoder) gives way to the threads that answer requests.
if ((workerData as { background?: boolean } | null)?.background) lowerThreadPriority();
const port = parentPort;
port.on('message', (m: { id: number; job: Job }) => {
  runJob(m.job).then(
    (result) => port.postMessage({ id: m.id, result }, transferables(result)),
    (e: unknown) => port.postMessage({ id: m.id, error: toJobError(e) }),
  );
});
