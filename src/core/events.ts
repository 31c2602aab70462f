/** Events the roles publish to each other inside one node (issuance, revocation, CRL refresh). */
import { EventEmitter } from 'node:events';
import type { CertificateRecord, CrlRecord } from './types.js';

export interface CaEventMap {
  issued: [CertificateRecord];
  revoked: [CertificateRecord];
  crl: [CrlRecord];
  issuersChanged: [];
}

export class CaEvents extends EventEmitter<CaEventMap> {}
