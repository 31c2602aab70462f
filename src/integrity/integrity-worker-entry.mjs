// Entry of the integrity worker thread: the TypeScript module runs through
// tsx's ESM loader (as src/pki/pool/pki-worker-entry.mjs does).
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';
register({ tsconfig: fileURLToPath(new URL('../../tsconfig.json', import.meta.url)) });
await import('./integrity-worker.ts');
