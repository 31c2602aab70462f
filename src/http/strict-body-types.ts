/**
 * JSON bodies are taken at their JSON types. The validator coerces types
 * (query strings arrive as text and need it), so without this a body
 * `{"validityDays": "30"}` would pass as 30 and `{"sans": {"dns": "a"}}` as
 * ["a"]. This preValidation hook compares the body with the route's body
 * schema before coercion and refuses a value of the wrong JSON type with a
 * 400 that names the field; everything else is left to the schema.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RampartError } from '../core/errors.js';

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function accepts(declared: string | string[], actual: string): boolean {
  const list = Array.isArray(declared) ? declared : [declared];
  return list.includes(actual) || (actual === 'integer' && list.includes('number'));
}

/** The path of the first value whose JSON type the schema does not declare, with both types; null when all match. */
export function wrongJsonType(schema: JsonSchema | undefined, value: unknown, path = ''): { path: string; expected: string; actual: string } | null {
  if (!schema || value === undefined) return null;
  const actual = jsonType(value);
  if (schema.type !== undefined && !accepts(schema.type, actual)) {
    return { path: path || 'body', expected: ([] as string[]).concat(schema.type).join(' or '), actual };
  }
  if (actual === 'object' && schema.properties) {
    for (const [k, sub] of Object.entries(schema.properties)) {
      const bad = wrongJsonType(sub, (value as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      if (bad) return bad;
    }
  }
  if (actual === 'array' && schema.items) {
    const items = value as unknown[];
    for (let i = 0; i < items.length; i++) {
      const bad = wrongJsonType(schema.items, items[i], `${path}[${i}]`);
      if (bad) return bad;
    }
  }
  return null;
}

export function installStrictBodyTypes(app: FastifyInstance): void {
  app.addHook('preValidation', async (req: FastifyRequest) => {
    const schema = (req.routeOptions.schema as { body?: JsonSchema } | undefined)?.body;
    if (!schema || req.body === undefined) return;
    const bad = wrongJsonType(schema, req.body);
    if (bad) throw new RampartError('malformed', `${bad.path} must be of JSON type ${bad.expected}, not ${bad.actual}`, { field: bad.path });
  });
}
