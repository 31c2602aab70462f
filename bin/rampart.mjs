#!/usr/bin/env node
// Entry point: runs the TypeScript CLI through tsx's ESM loader, so a checkout
// works with `npx rampart` and `npm start` without a build step. The project's
// tsconfig.json is named explicitly: tsx would otherwise look for one in the
// working directory, and the CLI must work from anywhere (e.g. a PostgreSQL
// archive_command runs in the data directory).
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';
register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('../src/cli/main.ts');
