/** What a drill scenario is given and must provide. */
import type { RampartConfig } from '../config/schema.js';
import type { DrillEnvironment } from './drill-environment.js';
import type { DrillScenarioName } from './drill-result.js';

export interface DrillContext {
  /** The operator node's configuration (tiers, cluster timing, backup settings); never its data. */
  config: RampartConfig;
  /** The operator node's data directory (read-only use: finding its backups). */
  nodeDataDir: string;
  env: DrillEnvironment;
  /** Runs one timed step; a throw fails the step and the drill. */
  step<T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string | undefined): Promise<T>;
  /** Starts the recovery clock (the moment of the fault). */
  faultAt(): void;
  /** Stops the recovery clock: the measured RTO is the time since faultAt(). */
  recovered(): void;
  /** Sets the measured data loss in seconds (0: nothing acknowledged was lost). */
  dataLoss(seconds: number): void;
  /** Sets the measured RTO directly (when the fault is not timed by faultAt/recovered). */
  recoveryTime(seconds: number): void;
  note(text: string): void;
  /** Progress lines for a person watching (stderr, not with --json). */
  progress(text: string): void;
}

export interface DrillScenario {
  name: DrillScenarioName;
  /** One line: what the scenario does. */
  summary: string;
  run(ctx: DrillContext): Promise<void>;
}

/** A scenario that cannot run here, with why (the drill fails with this message). */
export class DrillUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DrillUnavailableError';
  }
}
