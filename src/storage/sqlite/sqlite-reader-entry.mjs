// Entry of the SQLite inventory reader thread (sqlite-reader.ts): the
// TypeScript module runs through tsx's ESM loader, as in src/pki/pool/.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';
register({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
await import('./sqlite-reader-worker.ts');
