/**
 * What owns a key that custody backs up and restores: an X.509 CA (issuer)
 * or an SSH CA (issue 21). `certDer` is what the key is proven against: the
 * CA certificate of an X.509 CA, the SubjectPublicKeyInfo of an SSH CA's
 * key (which has no X.509 certificate); key-verification.ts takes either.
 */
import type { IssuerRecord } from '../../core/types.js';

export type KeyOwnerKind = IssuerRecord['kind'] | 'ssh-user' | 'ssh-host';

export interface KeyOwner {
  id: string;
  kind: KeyOwnerKind;
  subject: string;
  certDer: Uint8Array;
  keyRef: string;
  keyBackend: string;
  notAfter: Date;
}

/** Where restore finds the owner and points it at the imported key (IssuerStore for X.509 CAs). */
export interface KeyOwnerStore {
  getIssuer(id: string): Promise<KeyOwner | null>;
  setIssuerKey(id: string, keyRef: string, keyBackend: string): Promise<boolean>;
}
