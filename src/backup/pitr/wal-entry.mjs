#!/usr/bin/env node
// Fast entry for archive_command / restore_command: `node wal-entry.mjs
// wal-push|wal-fetch ...` (see wal-command.ts). Works from any working
// directory: tsx is given this checkout's tsconfig explicitly.
import { register } from 'tsx/esm/api';
register({ tsconfig: new URL('../../../tsconfig.json', import.meta.url).pathname });
const { runWalCommand } = await import('./wal-command.ts');
process.exitCode = await runWalCommand(process.argv.slice(2));
