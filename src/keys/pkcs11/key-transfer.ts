/**
 * Moving a private key between tokens (and to and from backups), on one
 * token's session held by the caller: C_WrapKey under a session AES-256 KEK
 * object (CKA_TOKEN false, wrap/unwrap only), and C_UnwrapKey into a token
 * private key plus its public key object, proven by a test signature that
 * must verify under the expected public key.
 */
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { signHash, signingKey, type KeyAlgorithm } from '../key-backend.js';
import { ckrCode, NotExtractable } from './errors.js';
import { publicKeyObjectTemplate } from './key-objects.js';
import { kekTemplate, keyPairGeneration, privateKeyTemplate, signPlan, wrapMechanism } from './mechanisms.js';
import { edwardsParams } from './public-key.js';
import { ed25519Seed, unwrapInNode } from './wrapped-key.js';
import type { Pkcs11Module } from './pkcs11-module.js';
import type { Token } from './token.js';

type Handle = pkcs11js.Handle;

export interface TransferContext {
  module: Pkcs11Module;
  /** CKA_EXTRACTABLE of keys unwrapped into tokens. */
  extractable: boolean;
  /** C_SignInit + C_Sign of `input` with `key` on the session (for the proof signature). */
  signRaw(s: Handle, generation: number, key: Handle, algorithm: KeyAlgorithm, input: Buffer): Promise<Uint8Array>;
}

function mechanismOf(t: Token): number {
  const m = wrapMechanism(t.mechanisms);
  if (m === null) throw new Error(`${t.name} offers no RFC 5649 AES key wrap (CKM_AES_KEY_WRAP_KWP or CKM_AES_KEY_WRAP_PAD)`);
  return m;
}

/** Wraps private key `h` under `kek` (RFC 5649); NotExtractable when the token's copy may not leave it. */
export async function wrapKeyIn(c: TransferContext, t: Token, s: Handle, generation: number, h: Handle, keyRef: string, kek: Uint8Array): Promise<{ raw: Buffer; label: string }> {
  const p = c.module.p;
  c.module.assertCurrent(generation);
  const [ext, label] = p.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_EXTRACTABLE }, { type: pkcs11js.CKA_LABEL }]);
  if (!ext!.value[0]) {
    throw new NotExtractable(`key ${keyRef} is not extractable (CKA_EXTRACTABLE false; keys.pkcs11.extractable was off when it was made): it cannot leave the HSM. `
      + "Back it up with the HSM vendor's own means (token cloning or backup) instead");
  }
  const mechanism = mechanismOf(t);
  const kekObject = p.C_CreateObject(s, kekTemplate(kek));
  try {
    const raw = await c.module.call(generation, () => p.C_WrapKeyAsync(s, { mechanism }, kekObject, h, Buffer.alloc(16384)));
    return { raw: Buffer.from(raw), label: label!.value.toString('utf8') };
  } catch (e) {
    if (ckrCode(e) !== pkcs11js.CKR_KEY_NOT_WRAPPABLE) throw e;
    throw new NotExtractable(`${t.name} cannot wrap key ${keyRef} (CKR_KEY_NOT_WRAPPABLE; SoftHSM2 2.6 wraps no Ed25519 key): it cannot leave this token. `
      + "Back it up with the HSM vendor's own means, or make the key where it can be backed up (software keys, an ECDSA P-256 SSH CA) and `rampart key restore` it into the HSM");
  } finally {
    if (generation === c.module.generation) try { p.C_DestroyObject(s, kekObject); } catch { /* session gone */ }
  }
}

export interface UnwrapRequest {
  label: string;
  algorithm: KeyAlgorithm;
  wrapped: Uint8Array;
  kek: Uint8Array;
  /** The public key the unwrapped key must have. */
  spki: Uint8Array;
  /** CKA_ID of both objects. */
  id: Uint8Array;
}

/** Unwraps into token `t` unless it already holds the key (false then); leaves nothing behind on failure. */
export async function unwrapKeyInto(c: TransferContext, t: Token, s: Handle, generation: number, r: UnwrapRequest): Promise<boolean> {
  const p = c.module.p;
  c.module.assertCurrent(generation);
  if (t.findPrivateKey(s, r.id)) return false;
  const mechanism = mechanismOf(t);
  const kekObject = p.C_CreateObject(s, kekTemplate(r.kek));
  const created: Handle[] = [];
  try {
    const template = privateKeyTemplate(r.algorithm, { id: r.id, label: r.label, extractable: c.extractable });
    if (r.algorithm === 'ed25519') created.push(createEd25519(p, s, template, r));
    else created.push(await c.module.call(generation, () => p.C_UnwrapKeyAsync(s, { mechanism }, kekObject, Buffer.from(r.wrapped), template)));
    c.module.assertCurrent(generation);
    created.push(p.C_CreateObject(s, publicKeyObjectTemplate(r.algorithm, r.spki, r.id, r.label)));
    const probe = randomBytes(32);
    const sig = await c.signRaw(s, generation, created[0]!, r.algorithm, signPlan(r.algorithm).input(probe));
    const key = createPublicKey({ key: Buffer.from(r.spki), format: 'der', type: 'spki' });
    if (!verify(signHash(r.algorithm), probe, signingKey(r.algorithm, key), sig)) {
      throw new Error(`the unwrapped key does not match the public key it was imported with (${t.name})`);
    }
    t.forgetKeys();
    return true;
  } catch (e) {
    if (generation === c.module.generation) for (const h of created) try { p.C_DestroyObject(s, h); } catch { /* gone */ }
    throw e;
  } finally {
    if (generation === c.module.generation) try { p.C_DestroyObject(s, kekObject); } catch { /* session gone */ }
  }
}

/** C_CreateObject of an Ed25519 private key from the wrapped PKCS#8 (unwrapped here; see the file comment). */
function createEd25519(p: pkcs11js.PKCS11, s: Handle, template: pkcs11js.Template, r: UnwrapRequest): Handle {
  const { pkcs8 } = unwrapInNode(r.wrapped, r.kek);
  let seed: Buffer | undefined;
  try {
    seed = ed25519Seed(pkcs8);
    return p.C_CreateObject(s, [...template, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(edwardsParams()) }, { type: pkcs11js.CKA_VALUE, value: seed }]);
  } finally {
    pkcs8.fill(0);
    seed?.fill(0);
  }
}

/**
 * Whether token `t` wraps an extractable key of `algorithm` (a throwaway
 * session key pair, CKA_TOKEN false): the reason it does not (SoftHSM2 2.6
 * answers CKR_KEY_NOT_WRAPPABLE for Ed25519), or null.
 */
export async function wrapRefusal(c: TransferContext, t: Token, s: Handle, generation: number, algorithm: KeyAlgorithm): Promise<string | null> {
  const p = c.module.p;
  c.module.assertCurrent(generation);
  const mechanism = wrapMechanism(t.mechanisms);
  if (mechanism === null) return `${t.name} offers no RFC 5649 AES key wrap`;
  const session = (tpl: pkcs11js.Template) => tpl.map((a) => (a.type === pkcs11js.CKA_TOKEN ? { ...a, value: false } : a));
  const plan = keyPairGeneration(algorithm, { id: randomBytes(20), label: 'rampart wrap probe', extractable: true });
  const created: Handle[] = [];
  try {
    const kp = await c.module.call(generation, () => p.C_GenerateKeyPairAsync(s, plan.mechanism, session(plan.publicTemplate), session(plan.privateTemplate)));
    created.push(kp.privateKey, kp.publicKey);
    created.push(p.C_CreateObject(s, kekTemplate(randomBytes(32))));
    await c.module.call(generation, () => p.C_WrapKeyAsync(s, { mechanism }, created[2]!, kp.privateKey, Buffer.alloc(16384)));
    return null;
  } catch (e) {
    if (ckrCode(e) !== pkcs11js.CKR_KEY_NOT_WRAPPABLE) throw e;
    return `${t.name} cannot wrap ${algorithm} keys (CKR_KEY_NOT_WRAPPABLE)`;
  } finally {
    if (generation === c.module.generation) for (const h of created) try { p.C_DestroyObject(s, h); } catch { /* gone */ }
  }
}
