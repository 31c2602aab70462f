/**
 * The shared test fixture for "a running node".
 *
 * startTestNode(): a real `rampart serve` child process (node-process.ts) on
 * free loopback ports, with its own temporary data directory and a scratch
 * directory for the test's own files (CSRs, PEMs), the one-time admin token
 * and the node's CA bundle (the trust anchor of its HTTPS API) at hand.
 * close() stops it and removes both directories.
 *
 *   let node: TestNode;
 *   before(async () => { node = await startTestNode({ prefix: 'rampart-x-', env: { ... } }); });
 *   after(async () => { await node?.close(); });
 *
 * prepareTestNode() does the same without starting it, for tests that run
 * CLI commands on the data directory first (the offline root ceremony) or
 * stop and start the node on the same data and ports (rotation, restarts).
 *
 * startInProcessNode(): the node's services in this process (RampartNode on
 * a temporary data directory, silent logger), with an optional clock, for
 * tests that drive time or call services directly.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig, type LoadConfigOptions } from '../../src/config/load.js';
import type { Clock } from '../../src/core/clock.js';
import { RampartNode } from '../../src/main/node.js';
import { bootstrapNode } from '../../src/main/first-run.js';
import { call } from './api-client.js';
import { removeDir, startNode, tempDir, type NodeProcess } from './node-process.js';
import { freePort } from './ports.js';
import { TEST_PIN, type SoftHsm, type SoftHsmToken } from './softhsm.js';

/** The in-process node's class, for tests that hold one (startInProcessNode). */
export type { RampartNode };

export interface TestNodeOptions {
  /** mkdtemp prefix of the scratch directory (`dir`); the data directory is `<prefix>data-…`. Default 'rampart-test-'. */
  prefix?: string;
  /** Environment of `rampart serve`, over this process's (RAMPART_* settings and the like). */
  env?: Record<string, string>;
  /** CA keys in these SoftHSM2 tokens (keys.backend pkcs11, the test PIN); `env` is applied after it. */
  pkcs11?: { hsm: SoftHsm; tokens: SoftHsmToken[] };
  /**
   * Write rampart.yaml with `publicBaseUrl: <httpUrl>` into the data
   * directory before anything runs on it, so the CLI and the server agree on
   * where relying parties reach the node.
   */
  publicBaseUrl?: boolean;
}

export interface TestNode {
  /** The test's scratch directory (removed by close()). */
  readonly dir: string;
  /** The node's data directory (removed by close()). */
  readonly dataDir: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** http://127.0.0.1:<httpPort>: validation (OCSP, CRLs, CA bundle), health, metrics. */
  readonly httpUrl: string;
  /** https://127.0.0.1:<httpsPort>: the REST API. */
  readonly httpsUrl: string;
  /** The one-time admin token, as printed by the first start that printed one (null until then). */
  readonly adminToken: string | null;
  /** The CA bundle (/ca/bundle.pem) as fetched after the last start: trust it for `httpsUrl`. */
  readonly ca: string;
  /** The current (or last) `rampart serve` process; throws before the first start. */
  readonly process: NodeProcess;
  /** Its child process. */
  readonly child: ChildProcess;
  /** Its stdout and stderr so far. */
  output(): string;
  /** A path in the scratch directory. */
  file(name: string): string;
  /** Starts `rampart serve` on the data directory and ports (again); rejects when it exits or is not ready in 60 s. */
  start(): Promise<void>;
  /** Stops the serve process (SIGTERM by default, SIGKILL after 10 s); the directories stay. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** stop(signal), then start(). */
  restart(signal?: NodeJS.Signals): Promise<void>;
  /** Stops the node and removes its data and scratch directories. Safe to call twice. */
  close(): Promise<void>;
}

/** The `rampart serve` environment for CA keys in SoftHSM2 tokens. */
export function pkcs11Env(hsm: SoftHsm, tokens: SoftHsmToken[]): Record<string, string> {
  return {
    ...hsm.env, RAMPART_KEYS__BACKEND: 'pkcs11', RAMPART_KEYS__PKCS11__MODULE: hsm.module,
    RAMPART_KEYS__PKCS11__TOKENS: JSON.stringify(tokens.map((t) => t.uri)), RAMPART_PKCS11_PIN: TEST_PIN,
  };
}

/** Directories and ports for a node, not started yet. */
export async function prepareTestNode(opts: TestNodeOptions = {}): Promise<TestNode> {
  const prefix = opts.prefix ?? 'rampart-test-';
  const env = { ...(opts.pkcs11 ? pkcs11Env(opts.pkcs11.hsm, opts.pkcs11.tokens) : {}), ...opts.env };
  const dir = tempDir(prefix);
  const dataDir = tempDir(`${prefix}data-`);
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  if (opts.publicBaseUrl) writeFileSync(join(dataDir, 'rampart.yaml'), `publicBaseUrl: ${httpUrl}\n`);
  let proc: NodeProcess | undefined;
  let adminToken: string | null = null;
  let ca = '';
  let closed = false;
  const current = (): NodeProcess => {
    if (!proc) throw new Error('the test node has not been started');
    return proc;
  };
  const node: TestNode = {
    dir, dataDir, httpPort, httpsPort, httpUrl, httpsUrl: `https://127.0.0.1:${httpsPort}`,
    get adminToken() { return adminToken; },
    get ca() { return ca; },
    get process() { return current(); },
    get child() { return current().child; },
    output: () => current().output(),
    file: (name) => join(dir, name),
    async start() {
      if (closed) throw new Error('the test node is closed');
      if (proc && proc.child.exitCode === null && proc.child.signalCode === null) throw new Error('the test node is running');
      proc = await startNode({ dataDir, httpPort, httpsPort, env });
      adminToken ??= proc.adminToken;
      const bundle = await call(`${httpUrl}/ca/bundle.pem`);
      if (bundle.status !== 200) throw new Error(`GET /ca/bundle.pem answered ${bundle.status}`);
      ca = String(bundle.body);
    },
    async stop(signal) {
      await proc?.stop(signal);
    },
    async restart(signal) {
      await node.stop(signal);
      await node.start();
    },
    async close() {
      if (closed) return;
      closed = true;
      await proc?.stop();
      removeDir(dataDir);
      removeDir(dir);
    },
  };
  return node;
}

/** A started node: prepareTestNode() + start(); nothing is left behind when it fails to start. */
export async function startTestNode(opts: TestNodeOptions = {}): Promise<TestNode> {
  const node = await prepareTestNode(opts);
  try {
    await node.start();
  } catch (e) {
    await node.close();
    throw e;
  }
  return node;
}

export interface InProcessNodeOptions {
  /** mkdtemp prefix of the data directory. Default 'rampart-test-'. */
  prefix?: string;
  /** Configuration overrides (dataDir is the fixture's). The environment is never read. */
  overrides?: LoadConfigOptions['overrides'];
  clock?: Clock;
  /**
   * Create the dev hierarchy and the first admin token (RampartNode.bootstrap)
   * before returning. Default true; false leaves an empty data directory.
   */
  bootstrap?: boolean;
}

export interface InProcessTestNode {
  node: RampartNode;
  /** The data directory (removed by close()); also fine for the test's own files. */
  dataDir: string;
  /** Closes the node and removes the data directory. Safe to call twice. */
  close(): Promise<void>;
}

/** RampartNode opened in this process on a fresh data directory, with a silent logger and no environment. */
export async function startInProcessNode(opts: InProcessNodeOptions = {}): Promise<InProcessTestNode> {
  const dataDir = tempDir(opts.prefix ?? 'rampart-test-');
  let node: RampartNode | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await node?.close();
    removeDir(dataDir);
  };
  try {
    const config = loadConfig({ overrides: { ...opts.overrides, dataDir }, env: {} });
    node = await RampartNode.open({ config, clock: opts.clock, createSecret: true, env: {}, logger: pino({ level: 'silent' }) });
    if (opts.bootstrap ?? true) await bootstrapNode(node);
  } catch (e) {
    await close();
    throw e;
  }
  return { node, dataDir, close };
}
