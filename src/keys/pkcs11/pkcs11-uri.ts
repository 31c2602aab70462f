/**
 * RFC 7512 `pkcs11:` URIs: parsing (with errors that say what is wrong and
 * where), matching against what a module reports about its slots and tokens,
 * and formatting the URIs Rampart uses as key references.
 *
 * Path attributes: token, manufacturer, serial, model, library-manufacturer,
 * library-description, library-version, slot-manufacturer, slot-description,
 * slot-id, object, id (bytes), type. Query attributes: pin-value, pin-source,
 * module-name, module-path. `x-` vendor attributes are kept and ignored.
 * Values are percent-decoded UTF-8 (id: raw bytes).
 */

export const OBJECT_TYPES = ['public', 'private', 'cert', 'secret-key', 'data'] as const;
export type Pkcs11ObjectType = (typeof OBJECT_TYPES)[number];

export interface Pkcs11Uri {
  token?: string;
  manufacturer?: string;
  serial?: string;
  model?: string;
  libraryManufacturer?: string;
  libraryDescription?: string;
  /** "M" or "M.N". */
  libraryVersion?: string;
  slotManufacturer?: string;
  slotDescription?: string;
  slotId?: bigint;
  object?: string;
  id?: Uint8Array;
  type?: Pkcs11ObjectType;
  pinValue?: string;
  pinSource?: string;
  moduleName?: string;
  modulePath?: string;
  /** x-* attributes, decoded, by name. */
  vendor: Record<string, string>;
}

/** The URI with any pin-value replaced, for messages and logs. */
export function redactPkcs11Uri(uri: string): string {
  return uri.replace(/([?&]pin-value=)[^&]*/gi, '$1***');
}

export class Pkcs11UriError extends Error {
  constructor(uri: string, reason: string) {
    const shown = redactPkcs11Uri(uri);
    super(`invalid PKCS#11 URI ${JSON.stringify(shown.length > 200 ? `${shown.slice(0, 197)}...` : shown)}: ${reason}`);
    this.name = 'Pkcs11UriError';
  }
}

type TextKey = Exclude<keyof Pkcs11Uri, 'vendor' | 'id' | 'slotId' | 'type'>;
const PATH_TEXT: Record<string, TextKey> = {
  token: 'token', manufacturer: 'manufacturer', serial: 'serial', model: 'model',
  'library-manufacturer': 'libraryManufacturer', 'library-description': 'libraryDescription', 'library-version': 'libraryVersion',
  'slot-manufacturer': 'slotManufacturer', 'slot-description': 'slotDescription', object: 'object',
};
const QUERY_TEXT: Record<string, TextKey> = {
  'pin-value': 'pinValue', 'pin-source': 'pinSource', 'module-name': 'moduleName', 'module-path': 'modulePath',
};
const PATH_NAMES = [...Object.keys(PATH_TEXT), 'slot-id', 'id', 'type'];

// RFC 7512 section 2.3: unreserved, pct-encoded and these characters may appear as such.
const RES_AVAIL = ":[]@!$'()*+,=";
const PATH_CHARS = new Set(`${RES_AVAIL}&`);
const QUERY_CHARS = new Set(`${RES_AVAIL}/?|`);
const UNRESERVED = /^[A-Za-z0-9._~-]$/;

function decodeBytes(uri: string, name: string, raw: string, allowed: Set<string>): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Pkcs11UriError(uri, `attribute ${name}: "%" must be followed by two hex digits (got "%${hex}")`);
      out.push(parseInt(hex, 16));
      i += 2;
      continue;
    }
    if (!UNRESERVED.test(c) && !allowed.has(c)) {
      const code = c.codePointAt(0)!;
      const enc = code < 0x80 ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(String.fromCodePoint(code));
      throw new Pkcs11UriError(uri, `attribute ${name}: character ${JSON.stringify(c)} must be percent-encoded (write ${enc})`);
    }
    out.push(c.charCodeAt(0));
  }
  return new Uint8Array(out);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
function decodeText(uri: string, name: string, raw: string, allowed: Set<string>): string {
  try {
    return utf8.decode(decodeBytes(uri, name, raw, allowed));
  } catch (e) {
    if (e instanceof Pkcs11UriError) throw e;
    throw new Pkcs11UriError(uri, `attribute ${name}: not valid UTF-8 after percent-decoding`);
  }
}

function splitAttr(uri: string, part: string, where: string): [string, string] {
  const eq = part.indexOf('=');
  if (eq <= 0) throw new Pkcs11UriError(uri, `${where} attribute "${part}" must be name=value`);
  const name = part.slice(0, eq).toLowerCase();
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Pkcs11UriError(uri, `bad attribute name "${part.slice(0, eq)}"`);
  return [name, part.slice(eq + 1)];
}

/** Parses a `pkcs11:` URI; throws Pkcs11UriError naming the problem. */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (typeof uri !== 'string' || !/^pkcs11:/i.test(uri)) throw new Pkcs11UriError(String(uri), 'must start with "pkcs11:"');
  if (uri.includes('#')) throw new Pkcs11UriError(uri, 'fragments ("#") are not allowed; percent-encode "#" as %23');
  const rest = uri.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);
  const out: Pkcs11Uri = { vendor: {} };
  const seen = new Set<string>();
  const once = (name: string): void => {
    if (seen.has(name)) throw new Pkcs11UriError(uri, `attribute ${name} appears more than once`);
    seen.add(name);
  };

  if (path !== '') {
    for (const part of path.split(';')) {
      if (part === '') throw new Pkcs11UriError(uri, 'empty path attribute (two ";" in a row, or a trailing ";")');
      const [name, raw] = splitAttr(uri, part, 'path');
      once(name);
      const text = PATH_TEXT[name];
      if (text) {
        out[text] = decodeText(uri, name, raw, PATH_CHARS);
      } else if (name === 'id') {
        out.id = decodeBytes(uri, name, raw, PATH_CHARS);
      } else if (name === 'slot-id') {
        const v = decodeText(uri, name, raw, PATH_CHARS);
        if (!/^\d{1,20}$/.test(v)) throw new Pkcs11UriError(uri, `slot-id must be a decimal number (got "${v}")`);
        out.slotId = BigInt(v);
      } else if (name === 'type') {
        const v = decodeText(uri, name, raw, PATH_CHARS);
        if (!(OBJECT_TYPES as readonly string[]).includes(v)) throw new Pkcs11UriError(uri, `type must be one of ${OBJECT_TYPES.join(', ')} (got "${v}")`);
        out.type = v as Pkcs11ObjectType;
      } else if (name.startsWith('x-')) {
        out.vendor[name] = decodeText(uri, name, raw, PATH_CHARS);
      } else {
        throw new Pkcs11UriError(uri, `unknown path attribute "${name}" (known: ${PATH_NAMES.join(', ')}; vendor attributes start with x-)`);
      }
    }
  }
  if (out.libraryVersion !== undefined && !/^\d+(\.\d+)?$/.test(out.libraryVersion)) {
    throw new Pkcs11UriError(uri, `library-version must be "M" or "M.N" (got "${out.libraryVersion}")`);
  }

  if (query !== '') {
    for (const part of query.split('&')) {
      if (part === '') throw new Pkcs11UriError(uri, 'empty query attribute (two "&" in a row, or a trailing "&")');
      const [name, raw] = splitAttr(uri, part, 'query');
      once(name);
      const text = QUERY_TEXT[name];
      if (text) out[text] = decodeText(uri, name, raw, QUERY_CHARS);
      else if (name.startsWith('x-')) out.vendor[name] = decodeText(uri, name, raw, QUERY_CHARS);
      else throw new Pkcs11UriError(uri, `unknown query attribute "${name}" (known: ${Object.keys(QUERY_TEXT).join(', ')})`);
    }
  }
  if (out.pinValue !== undefined && out.pinSource !== undefined) throw new Pkcs11UriError(uri, 'pin-value and pin-source cannot both be given');
  return out;
}

/** Percent-encodes everything outside the unreserved characters (always valid in a path or query). */
function encodeText(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function encodeId(id: Uint8Array): string {
  return Array.from(id, (b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

/** Formats object attributes (the parts Rampart writes into key references). */
export function formatPkcs11Uri(a: { token?: string; serial?: string; object?: string; id?: Uint8Array; type?: Pkcs11ObjectType }): string {
  const parts: string[] = [];
  if (a.token !== undefined) parts.push(`token=${encodeText(a.token)}`);
  if (a.serial !== undefined) parts.push(`serial=${encodeText(a.serial)}`);
  if (a.object !== undefined) parts.push(`object=${encodeText(a.object)}`);
  if (a.type !== undefined) parts.push(`type=${a.type}`);
  if (a.id !== undefined) parts.push(`id=${encodeId(a.id)}`);
  return `pkcs11:${parts.join(';')}`;
}

/** What a module says about one slot and its token (PKCS#11 pads these fields with blanks). */
export interface TokenView {
  slotId: bigint;
  slotDescription: string;
  slotManufacturer: string;
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  libraryManufacturer: string;
  libraryDescription: string;
  libraryVersion: { major: number; minor: number };
}

const trimPad = (s: string): string => s.replace(/[\s\0]+$/, '');

/** True when every token, slot and library attribute of `uri` equals the view (object attributes are ignored). */
export function matchesToken(uri: Pkcs11Uri, v: TokenView): boolean {
  const eq = (want: string | undefined, have: string): boolean => want === undefined || want === trimPad(have);
  if (!eq(uri.token, v.label) || !eq(uri.manufacturer, v.manufacturer) || !eq(uri.model, v.model) || !eq(uri.serial, v.serial)) return false;
  if (!eq(uri.slotDescription, v.slotDescription) || !eq(uri.slotManufacturer, v.slotManufacturer)) return false;
  if (!eq(uri.libraryManufacturer, v.libraryManufacturer) || !eq(uri.libraryDescription, v.libraryDescription)) return false;
  if (uri.slotId !== undefined && uri.slotId !== v.slotId) return false;
  if (uri.libraryVersion !== undefined) {
    const [major, minor] = uri.libraryVersion.split('.').map(Number);
    if (major !== v.libraryVersion.major || (minor !== undefined && minor !== v.libraryVersion.minor)) return false;
  }
  return true;
}

/** A short human name for a token URI, for health details and errors. */
export function tokenName(uri: Pkcs11Uri, raw: string): string {
  if (uri.token !== undefined) return `token "${uri.token}"${uri.serial ? ` (serial ${uri.serial})` : ''}`;
  if (uri.serial !== undefined) return `token with serial ${uri.serial}`;
  if (uri.slotId !== undefined) return `slot ${uri.slotId}`;
  return raw;
}
