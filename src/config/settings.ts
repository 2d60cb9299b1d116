/**
 * Setting metadata, and the walk over the configuration schema that everything else derives
 * from: the environment variables, the flags, --help, check-config's redaction and
 * docs/configuration.md.
 *
 * A setting is declared once, in schema.ts, as a zod schema (type, bounds, default) with this
 * metadata registered on it:
 *
 *   maxInflight: int(1, 65_535).default(64).register(settings, { description: '...' }),
 *
 * The metadata may sit on any wrapper (before or after `.default()` / `.optional()`).
 */
import { z } from 'zod';

export interface FlagSpec {
  /** Long option, without the dashes: `max-connections`. */
  name: string;
  /** Placeholder for the value in --help (value flags only): `N`, `FILE`, `URL`. */
  arg?: string;
  /** A boolean flag that also has `--no-NAME`. */
  negatable?: boolean;
}

export interface SettingMeta {
  /** One line, units included. `Backticks` mark code: kept in the docs, dropped in --help. */
  description: string;
  /** Never printed: check-config shows *** instead (for a map, every value). */
  secret?: boolean;
  /** Short environment variable names accepted besides the generated SWITCHBOARD_<SECTION>_<KEY>. */
  envAliases?: readonly string[];
  /** A command-line flag of its own (every setting can also be given with --set KEY=VALUE). */
  flag?: FlagSpec;
  /** The default in words, when the declared value alone would mislead. */
  defaultText?: string;
  /** Shows a numeric default in larger units too: 16777216 (16 MiB), 604800 (7 days). */
  unit?: 'bytes' | 'seconds';
  /** An object whose keys are settings of their own (a section): described, then walked into. */
  section?: boolean;
}

/** The registry that schema.ts registers every setting's metadata in. */
export const settings = z.registry<SettingMeta>();

export type Kind = 'integer' | 'number' | 'boolean' | 'string' | 'enum' | 'list' | 'object' | 'array';

export interface Setting {
  /** Dotted key as written in a file or --set: `limits.maxQueuedBytes`, `applications[].jwt.hs256Secret`. */
  key: string;
  /** Object keys from the root; `[]` stands for "every element" of an array. */
  path: readonly string[];
  meta: SettingMeta;
  kind: Kind;
  /** The allowed values of an enum (or of the elements of a list). */
  values?: ReadonlyArray<string | number>;
  min?: number;
  max?: number;
  /** Must be given whenever its parent object is (no default, not optional). */
  required: boolean;
  hasDefault: boolean;
  default?: unknown;
  /** Environment variables that set it: the generated name first, then the short aliases. Empty inside arrays and for objects. */
  env: readonly string[];
  /** The schema of the value, without its default / optional wrappers. */
  schema: z.ZodType;
}

/** A schema without its default / prefault / optional wrappers, with what they said. */
export interface Unwrapped {
  inner: z.ZodType;
  meta: SettingMeta | undefined;
  hasDefault: boolean;
  default: unknown;
  optional: boolean;
}

export function unwrap(schema: z.ZodType): Unwrapped {
  let t: z.ZodType = schema;
  let meta: SettingMeta | undefined;
  let hasDefault = false;
  let dflt: unknown;
  let optional = false;
  for (;;) {
    meta ??= settings.get(t);
    if (t instanceof z.ZodDefault || t instanceof z.ZodPrefault) {
      if (!hasDefault) {
        hasDefault = true;
        dflt = structuredClone(t.def.defaultValue as unknown);
      }
      t = t.unwrap() as z.ZodType;
    } else if (t instanceof z.ZodOptional) {
      optional = true;
      t = t.unwrap() as z.ZodType;
    } else {
      break;
    }
  }
  return { inner: t, meta, hasDefault, default: dflt, optional };
}

/** Object shape of a schema (after unwrapping), if it is an object. */
export function shapeOf(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const { inner } = unwrap(schema);
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, z.ZodType>) : undefined;
}

const SCALAR: ReadonlySet<Kind> = new Set(['integer', 'number', 'boolean', 'string', 'enum', 'list']);

/** Whether a setting holds one value that an environment variable or a flag can carry. */
export function isScalar(s: Setting): boolean {
  return SCALAR.has(s.kind);
}

function describeType(t: z.ZodType): Pick<Setting, 'kind' | 'values' | 'min' | 'max'> {
  if (t instanceof z.ZodNumber) {
    const out: Pick<Setting, 'kind' | 'values' | 'min' | 'max'> = { kind: t.isInt ? 'integer' : 'number' };
    if (t.minValue !== null && t.minValue > Number.MIN_SAFE_INTEGER) out.min = t.minValue;
    if (t.maxValue !== null && t.maxValue < Number.MAX_SAFE_INTEGER) out.max = t.maxValue;
    return out;
  }
  if (t instanceof z.ZodBoolean) return { kind: 'boolean' };
  if (t instanceof z.ZodEnum) return { kind: 'enum', values: t.options as Array<string | number> };
  if (t instanceof z.ZodLiteral) return { kind: 'enum', values: [...t.values].filter((v): v is string | number => typeof v === 'string' || typeof v === 'number') };
  if (t instanceof z.ZodUnion) {
    const values: Array<string | number> = [];
    for (const o of t.options as z.ZodType[]) {
      const d = describeType(unwrap(o).inner);
      if (d.kind !== 'enum' || !d.values) return { kind: 'object' };
      values.push(...d.values);
    }
    return { kind: 'enum', values };
  }
  if (t.def.type === 'string') return { kind: 'string' }; // z.string() and its formats (z.url())
  if (t instanceof z.ZodArray) {
    const el = describeType(unwrap(t.element as z.ZodType).inner);
    if (el.kind === 'string') return { kind: 'list' };
    if (el.kind === 'enum' && el.values?.every((v) => typeof v === 'string')) return { kind: 'list', values: el.values };
    return { kind: 'array' };
  }
  return { kind: 'object' };
}

/** `maxQueuedBytes` -> `MAX_QUEUED_BYTES` (`maxQoS` -> `MAX_QOS`). */
export function upperSnake(key: string): string {
  return key
    .replace(/QoS/g, 'Qos')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase();
}

/** The generated environment variable of a top-level setting: SWITCHBOARD_<SECTION>_<KEY>. */
export function envName(path: readonly string[]): string {
  return ['SWITCHBOARD', ...path.map(upperSnake)].join('_');
}

/**
 * Every setting of `root`, in declaration order. Objects without metadata, and sections, are
 * walked into; an array of objects is listed and its element's keys too (`applications[].id`).
 * Throws on a setting without a description: every key is documented.
 */
export function listSettings(root: z.ZodType): Setting[] {
  const out: Setting[] = [];
  const visit = (schema: z.ZodType, path: string[], inArray: boolean): void => {
    const u = unwrap(schema);
    const shape = u.inner instanceof z.ZodObject ? (u.inner.shape as Record<string, z.ZodType>) : undefined;
    const key = path.join('.').replace(/\.\[\]/g, '[]');
    if (shape && (!u.meta || u.meta.section)) {
      if (u.meta && path.length > 0) out.push(entry(u, path, key, inArray));
      for (const [k, v] of Object.entries(shape)) visit(v, [...path, k], inArray);
      return;
    }
    if (!u.meta) throw new Error(`configuration schema: "${key}" has no description (register it in the settings registry)`);
    out.push(entry(u, path, key, inArray));
    const el = u.inner instanceof z.ZodArray ? (u.inner.element as z.ZodType) : undefined;
    if (el && shapeOf(el) && !unwrap(el).meta) visit(el, [...path, '[]'], true);
  };
  visit(root, [], false);
  return out;
}

function entry(u: Unwrapped, path: string[], key: string, inArray: boolean): Setting {
  const meta = u.meta as SettingMeta;
  const t = describeType(u.inner);
  const s: Setting = {
    key,
    path,
    meta,
    ...t,
    required: !u.optional && !u.hasDefault && !meta.section,
    hasDefault: u.hasDefault,
    ...(u.hasDefault ? { default: u.default } : {}),
    env: [],
    schema: u.inner,
  };
  if (!inArray && SCALAR.has(t.kind)) s.env = [envName(path), ...(meta.envAliases ?? [])];
  return s;
}
