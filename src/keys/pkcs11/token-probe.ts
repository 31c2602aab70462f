/**
 * What a fresh process sees in a PKCS#11 module: loads the module in a short
 * child process (same environment, so the same SOFTHSM2_CONF or vendor
 * configuration), initializes it and lists its tokens.
 *
 * Used to decide whether re-initializing the module in this process is worth
 * it: some modules (SoftHSM2) only discover tokens in C_Initialize, so a token
 * that went away and came back is only usable again after a re-initialization,
 * which interrupts every other token of the module for a moment. The probe
 * tells "the token is back" (re-initialize) from "still gone" (wait).
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import type { TokenView } from './pkcs11-uri.js';

const PKCS11JS = createRequire(import.meta.url).resolve('pkcs11js');

const SCRIPT = `
const P = require(process.argv[1]);
const p = new P.PKCS11();
p.load(process.argv[2]);
p.C_Initialize();
try {
  const lib = p.C_GetInfo();
  const out = [];
  for (const s of p.C_GetSlotList(true)) {
    try {
      const si = p.C_GetSlotInfo(s), ti = p.C_GetTokenInfo(s);
      out.push({ slotId: (s.length >= 8 ? s.readBigUInt64LE(0) : BigInt(s.readUInt32LE(0))).toString(),
        slotDescription: si.slotDescription, slotManufacturer: si.manufacturerID, label: ti.label, manufacturer: ti.manufacturerID,
        model: ti.model, serial: ti.serialNumber, libraryManufacturer: lib.manufacturerID, libraryDescription: lib.libraryDescription,
        libraryVersion: lib.libraryVersion });
    } catch (e) { /* a slot whose token cannot be read is not there */ }
  }
  process.stdout.write(JSON.stringify(out));
} finally { p.C_Finalize(); }
`;

export async function probeTokens(modulePath: string, timeoutMs = 15_000): Promise<TokenView[]> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['-e', SCRIPT, PKCS11JS, modulePath], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, out, errOut) => {
      if (err) reject(new Error(`probing ${modulePath} in a child process failed: ${err.message}${errOut ? `: ${errOut.trim().split('\n').slice(-3).join(' ')}` : ''}`));
      else resolve(out);
    });
  });
  return (JSON.parse(stdout) as Array<Omit<TokenView, 'slotId'> & { slotId: string }>).map((v) => ({ ...v, slotId: BigInt(v.slotId) }));
}
