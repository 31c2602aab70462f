import 'reflect-metadata';
/**
 * The bundle an offline root hands to the online nodes: the intermediate CA
 * certificate, the root certificate and (usually) a fresh root CRL, as PEM
 * blocks in one file (openssl reads it as it is). Parsing tells the root
 * (self-signed) from the intermediate by their signatures, not by order.
 */
import { X509Certificate } from '@peculiar/x509';
import { toArrayBuffer, toPem } from '../pki/certificate-builder.js';

export interface CaBundle {
  intermediateDer: Uint8Array;
  rootDer: Uint8Array;
  rootCrlDer?: Uint8Array;
}

/** Largest bundle accepted: a few certificates and a root CRL. */
const MAX_BUNDLE_BYTES = 4 * 1024 * 1024;

export function formatCaBundle(b: CaBundle): string {
  return toPem(b.intermediateDer) + toPem(b.rootDer) + (b.rootCrlDer ? toPem(b.rootCrlDer, 'X509 CRL') : '');
}

function pemBlocks(text: string): Array<{ label: string; der: Uint8Array }> {
  const out: Array<{ label: string; der: Uint8Array }> = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push({ label: m[1]!, der: new Uint8Array(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64')) });
  return out;
}

export async function parseCaBundle(text: string): Promise<CaBundle> {
  if (text.length > MAX_BUNDLE_BYTES) throw new Error(`the bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
  const blocks = pemBlocks(text);
  const other = blocks.find((b) => b.label !== 'CERTIFICATE' && b.label !== 'X509 CRL');
  if (other) throw new Error(`the bundle holds a "${other.label}" block; expected CERTIFICATE and X509 CRL blocks only`);
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
  const crls = blocks.filter((b) => b.label === 'X509 CRL');
  if (certs.length !== 2) throw new Error(`the bundle must hold exactly two certificates (the intermediate and its root), found ${certs.length}`);
  if (crls.length > 1) throw new Error(`the bundle may hold at most one CRL (the root's), found ${crls.length}`);
  const parsed = certs.map((c) => {
    try {
      return { der: c.der, x: new X509Certificate(toArrayBuffer(c.der)) };
    } catch (e) {
      throw new Error(`a certificate in the bundle cannot be parsed: ${(e as Error).message}`);
    }
  });
  const selfSigned = [];
  for (const p of parsed) if (await p.x.isSelfSigned()) selfSigned.push(p);
  if (selfSigned.length !== 1) throw new Error(`the bundle must hold exactly one self-signed (root) certificate, found ${selfSigned.length}`);
  const root = selfSigned[0]!;
  const intermediate = parsed.find((p) => p !== root)!;
  const out: CaBundle = { intermediateDer: intermediate.der, rootDer: root.der };
  if (crls[0]) out.rootCrlDer = crls[0].der;
  return out;
}
