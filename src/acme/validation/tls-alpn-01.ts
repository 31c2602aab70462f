/**
 * tls-alpn-01 (RFC 8737; RFC 8738 §6 for IP identifiers): a TLS handshake to
 * {identifier}:{tlsPort} offering only the "acme-tls/1" ALPN protocol, with
 * the identifier as SNI (its reverse-DNS name for IP addresses). The server
 * must negotiate acme-tls/1 and present a certificate whose only SAN is the
 * identifier and which carries the critical acmeIdentifier extension holding
 * SHA-256(keyAuthorization) as a DER OCTET STRING.
 */
import 'reflect-metadata';
import tls from 'node:tls';
import { isIP } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import * as asn1js from 'asn1js';
import { SubjectAlternativeNameExtension, X509Certificate } from '@peculiar/x509';
import { AcmeError } from '../problems.js';
import type { ValidationInput, ValidationSettings } from './validator.js';
import { canonicalIp, checkIdentifier, connectHost, networkError, reverseDnsName } from './target.js';
import { keyAuthorizationSha256 } from './key-authorization.js';

export const ACME_TLS_ALPN = 'acme-tls/1';
/** id-pe-acmeIdentifier (RFC 8737 §6.1). */
export const ID_PE_ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31';
const ID_CE_SUBJECT_ALT_NAME = '2.5.29.17';

export async function validateTlsAlpn01(input: ValidationInput, settings: ValidationSettings): Promise<void> {
  const value = checkIdentifier(input.identifier);
  const isIp = input.identifier.type === 'ip';
  const sni = isIp ? reverseDnsName(value) : value;
  const where = `${isIp && isIP(value) === 6 ? `[${value}]` : value}:${settings.tlsPort}`;
  const der = await fetchCertificate(connectHost(value, settings.connectAddress), sni, where, settings);
  checkCertificate(der, input, value, where);
}

/** Performs the handshake and returns the server's leaf certificate (DER). */
function fetchCertificate(host: string, servername: string, where: string, settings: ValidationSettings): Promise<Buffer> {
  const what = `Connecting to ${where} for tls-alpn-01`;
  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    let connected = false;
    let timedOut = false;
    const socket = tls.connect({
      host,
      port: settings.tlsPort,
      servername,
      ALPNProtocols: [ACME_TLS_ALPN],
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    });
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
      fail(new AcmeError('connection', `${what}: timed out after ${settings.timeoutSeconds}s${connected ? ' during the TLS handshake' : ''}`));
    }, settings.timeoutSeconds * 1000);
    function fail(e: AcmeError) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    }
    socket.once('connect', () => { connected = true; });
    socket.once('secureConnect', () => {
      if (settled) return;
      if (socket.alpnProtocol !== ACME_TLS_ALPN) {
        fail(new AcmeError('tls', `${what}: the server did not negotiate the ${ACME_TLS_ALPN} ALPN protocol (got ${socket.alpnProtocol ? JSON.stringify(socket.alpnProtocol) : 'none'})`));
        return;
      }
      const peer = socket.getPeerCertificate(false);
      if (!peer || !peer.raw || peer.raw.length === 0) {
        fail(new AcmeError('tls', `${what}: the server presented no certificate`));
        return;
      }
      settled = true;
      clearTimeout(timer);
      const raw = Buffer.from(peer.raw);
      socket.end();
      socket.destroy();
      resolve(raw);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (settled) return;
      const mapped = networkError(e, what, settings.timeoutSeconds, timedOut);
      // Once TCP is up, a failure before the handshake completes is a TLS problem.
      if (connected && mapped.type === 'connection' && e.code !== 'ECONNRESET') {
        fail(new AcmeError('tls', `${what}: TLS handshake failed: ${e.message}`));
      } else if (connected && e.code === 'ECONNRESET') {
        fail(new AcmeError('tls', `${what}: connection reset during the TLS handshake`));
      } else {
        fail(mapped);
      }
    });
    socket.once('close', () => fail(new AcmeError(connected ? 'tls' : 'connection', `${what}: connection closed before the TLS handshake completed`)));
  });
}

function checkCertificate(der: Buffer, input: ValidationInput, value: string, where: string): void {
  const prefix = `Incorrect validation certificate for tls-alpn-01 challenge from ${where}`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(new Uint8Array(der));
  } catch (e) {
    throw new AcmeError('tls', `${prefix}: cannot parse the certificate: ${(e as Error).message}`);
  }

  // Exactly one SAN, equal to the identifier.
  const sanExts = cert.extensions.filter((x) => x.type === ID_CE_SUBJECT_ALT_NAME);
  if (sanExts.length !== 1) {
    throw new AcmeError('unauthorized', `${prefix}: expected one subjectAltName extension, found ${sanExts.length}`);
  }
  let names: Array<{ type: string; value: string }>;
  try {
    names = new SubjectAlternativeNameExtension(sanExts[0]!.rawData).names.items.map((n) => ({ type: n.type, value: n.value }));
  } catch (e) {
    throw new AcmeError('unauthorized', `${prefix}: cannot parse the subjectAltName extension: ${(e as Error).message}`);
  }
  const expectedType = input.identifier.type === 'ip' ? 'ip' : 'dns';
  const shown = names.map((n) => `${n.type}:${n.value}`).join(', ') || 'none';
  const matches = names.length === 1 && names[0]!.type === expectedType && (
    expectedType === 'ip' ? canonicalIp(names[0]!.value) === value : names[0]!.value.toLowerCase().replace(/\.$/, '') === value
  );
  if (!matches) {
    throw new AcmeError('unauthorized', `${prefix}: requested ${expectedType}:${value}, the certificate names ${shown} (exactly one subjectAltName equal to the identifier is required)`);
  }

  // The critical acmeIdentifier extension with the key authorization digest.
  const idExts = cert.extensions.filter((x) => x.type === ID_PE_ACME_IDENTIFIER);
  if (idExts.length === 0) throw new AcmeError('incorrectResponse', `${prefix}: the acmeIdentifier extension (${ID_PE_ACME_IDENTIFIER}) is missing`);
  if (idExts.length > 1) throw new AcmeError('incorrectResponse', `${prefix}: more than one acmeIdentifier extension`);
  const ext = idExts[0]!;
  if (!ext.critical) throw new AcmeError('incorrectResponse', `${prefix}: the acmeIdentifier extension is not critical`);
  const digest = parseOctetString(ext.value);
  if (!digest) throw new AcmeError('incorrectResponse', `${prefix}: the acmeIdentifier extension is not a DER OCTET STRING`);
  const expected = keyAuthorizationSha256(input.keyAuthorization);
  if (digest.length !== expected.length || !timingSafeEqual(digest, expected)) {
    throw new AcmeError('incorrectResponse', `${prefix}: the acmeIdentifier extension holds ${digest.toString('hex')}, expected SHA-256 of the key authorization ${expected.toString('hex')}`);
  }
}

/** The contents of a single primitive DER OCTET STRING filling the whole buffer, or null. */
function parseOctetString(value: ArrayBuffer): Buffer | null {
  const parsed = asn1js.fromBER(value);
  if (parsed.offset === -1 || parsed.offset !== value.byteLength) return null;
  const node = parsed.result;
  if (!(node instanceof asn1js.OctetString) || node.idBlock.isConstructed) return null;
  return Buffer.from(node.valueBlock.valueHexView);
}
