#!/usr/bin/env node
// Entry point: runs the TypeScript CLI through tsx's ESM loader, so a checkout
// works with `npx rampart` and `npm start` without a build step.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
