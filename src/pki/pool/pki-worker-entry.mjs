// Entry of a PKI worker thread: the TypeScript module runs through tsx's ESM
// loader, as the CLI does (bin/rampart.mjs), whether or not the parent
// process was started with --import tsx.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';
register({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
await import('./pki-worker.ts');
