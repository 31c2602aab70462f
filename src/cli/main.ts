/** The `rampart` operator CLI. */
import 'reflect-metadata';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config/load.js';
import { isRampartError } from '../core/errors.js';
import { registerAdmin } from './commands/admin.js';
import { registerCa } from './commands/ca.js';
import { registerRoot } from './commands/root.js';
import { registerPkiRebuild } from './commands/pki-rebuild.js';
import { registerCerts } from './commands/certs.js';
import { registerInit } from './commands/init.js';
import { registerServe } from './commands/serve.js';
import { registerCluster } from './commands/cluster.js';
import { registerHaproxy } from './commands/haproxy.js';
import { registerAcme } from './commands/acme.js';
import { registerKey } from './commands/key.js';
import { registerBackup } from './commands/backup.js';
import { registerTiers } from './commands/tiers.js';
import { registerDrill } from './commands/drill.js';
import { registerPitr } from './commands/pitr.js';
import { registerRegion } from './commands/region.js';
import { registerOperator } from './commands/operator.js';
import { registerLint } from './commands/lint.js';
import { registerInventory } from './commands/inventory.js';
import { registerTidy } from './commands/tidy.js';
import { registerDoctor } from './commands/doctor.js';
import { registerIntegrity } from './commands/integrity.js';
import { registerSsh } from './commands/ssh.js';
import type { GlobalOptions } from './context.js';

/** An empty path (`--data-dir ""`, an unset shell variable) is refused, not taken for the default. */
function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('must not be empty (leave the option out for the default)');
  return value;
}

const program = new Command('rampart')
  .description('Rampart private certificate authority')
  .option('--data-dir <dir>', 'node data directory (env RAMPART_DATA_DIR, default ./data)', nonEmpty)
  .option('--config <file>', 'configuration file, YAML or JSON (env RAMPART_CONFIG, default <data-dir>/rampart.yaml)', nonEmpty)
  .option('--json', 'machine-readable output')
  .showHelpAfterError()
  .exitOverride();

const g = (): GlobalOptions => program.opts<GlobalOptions>();

/** `rampart restore --to-time T …` is point-in-time restore: the same as `rampart pitr restore --to-time T …`. */
function pitrAlias(argv: string[]): string[] {
  const i = argv.indexOf('restore', 2);
  if (i < 0 || argv[i - 1] === 'pitr' || !argv.slice(i + 1).some((a) => a === '--to-time' || a.startsWith('--to-time='))) return argv;
  return [...argv.slice(0, i), 'pitr', ...argv.slice(i)];
}
registerInit(program, g);
registerServe(program, g);
registerCerts(program, g);
registerAdmin(program, g);
registerCa(program, g);
registerRoot(program, g);
registerPkiRebuild(program, g);
registerCluster(program, g);
registerHaproxy(program, g);
registerAcme(program, g);
registerKey(program, g);
registerBackup(program, g);
registerTiers(program, g);
registerDrill(program, g);
registerPitr(program, g);
registerRegion(program, g);
registerOperator(program, g);
registerSsh(program, g);
registerLint(program, g);
registerInventory(program, g);
registerTidy(program, g);
registerDoctor(program, g);
registerIntegrity(program, g);

try {
  await program.parseAsync(pitrAlias(process.argv));
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  const json = process.argv.includes('--json');
  const err = e as Error;
  const code = isRampartError(e) ? e.code : e instanceof ConfigError ? 'config' : 'error';
  if (json) process.stderr.write(`${JSON.stringify({ error: code, message: err.message, ...(isRampartError(e) ? e.extra : {}) })}\n`);
  else process.stderr.write(`rampart: ${err.message}\n`);
  process.exit(isRampartError(e) && e.http < 500 ? 2 : 1);
}
