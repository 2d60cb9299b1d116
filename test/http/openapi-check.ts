/** Checks a real answer of the API against the OpenAPI document the broker serves (ajv, JSON Schema 2020-12). */
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';

const ajv = new Ajv2020({ strict: false, allErrors: true });
const compiled = new Map<string, ValidateFunction>();

interface Doc {
  paths?: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: object }> }> }>>;
  components?: { schemas?: Record<string, object> };
}

/** The document's path template that `path` matches ({name} = one segment, a trailing {topic} = the rest). */
function templateOf(doc: Doc, path: string): string | undefined {
  for (const t of Object.keys(doc.paths ?? {})) {
    const re = new RegExp(`^${t.replace(/\{topic\}$/, '.+').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (re.test(path)) return t;
  }
  return undefined;
}

export function checkAgainst(doc: Record<string, unknown>, method: string, path: string, status: number, body: unknown): void {
  const d = doc as Doc;
  const t = templateOf(d, path);
  if (t === undefined) {
    assert.equal(status, 404, `${method} ${path}: not in the OpenAPI document, so it must be 404`);
    return;
  }
  const op = d.paths![t]![method.toLowerCase()];
  if (op === undefined) return; // a method the document does not list: fastify answers 404
  const answer = op.responses?.[String(status)] ?? op.responses?.default;
  const schema = answer?.content?.['application/json']?.schema;
  assert.ok(schema !== undefined, `${method} ${t} ${status}: no schema in the document`);
  const key = `${method} ${t} ${status in (op.responses ?? {}) ? status : 'default'}`;
  let v = compiled.get(key);
  if (v === undefined) {
    v = ajv.compile({ ...schema, components: d.components });
    compiled.set(key, v);
  }
  assert.ok(v(body), `${method} ${path} ${status}: the answer does not match the OpenAPI document: ${ajv.errorsText(v.errors)}\n${JSON.stringify(body)}`);
}
