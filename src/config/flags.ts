/**
 * Command-line flags, derived from the settings that declare one (schema.ts): their
 * `node:util` parseArgs options, and the layer they make (over `--set KEY=VALUE`).
 */
import type { ParseArgsConfig } from 'node:util';
import { parseScalar, setLayer, setPath, SETTINGS } from './load.js';
import type { ParsedLayer } from './load.js';
import type { Setting } from './settings.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags that are not settings, in --help order. */
export const OTHER_FLAGS: ReadonlyArray<{ usage: string; description: string }> = [
  { usage: '--config FILE', description: 'YAML or JSON configuration file (also SWITCHBOARD_CONFIG)' },
];
export const TRAILING_FLAGS: ReadonlyArray<{ usage: string; description: string }> = [
  { usage: '--set KEY=VALUE', description: 'any setting below, e.g. --set mqtt.maxInflight=32 (VALUE parsed as JSON if it can be); repeatable' },
  { usage: '-h, --help', description: 'this help' },
  { usage: '-v, --version', description: 'print the version' },
];

/** The settings that have a flag of their own. */
export function flagSettings(): Setting[] {
  return SETTINGS.filter((s) => s.meta.flag !== undefined);
}

/** parseArgs options: the setting flags plus --config, --set, --help, --version. */
export function flagOptions(): Options {
  const options: Options = {
    config: { type: 'string' },
    set: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  for (const s of flagSettings()) {
    const f = s.meta.flag!;
    if (s.kind === 'boolean') {
      options[f.name] = { type: 'boolean' };
      if (f.negatable) options[`no-${f.name}`] = { type: 'boolean' };
    } else {
      options[f.name] = { type: 'string', ...(s.kind === 'list' ? { multiple: true } : {}) };
    }
  }
  return options;
}

/** How a setting's flag reads in --help: `--max-connections N`, `--pretty / --no-pretty`. */
export function flagUsage(s: Setting): string {
  const f = s.meta.flag!;
  if (s.kind === 'boolean') return f.negatable ? `--${f.name} / --no-${f.name}` : `--${f.name}`;
  return `--${f.name} ${f.arg ?? 'VALUE'}`;
}

/**
 * The flag layer: `--set` assignments first, then the setting flags over them. Flags holding
 * a list are repeatable; a boolean flag sets true (its --no- form false).
 */
export function flagLayer(values: Record<string, unknown>): ParsedLayer {
  const set = values.set;
  const data = setLayer(Array.isArray(set) ? set.map(String) : []);
  const out: ParsedLayer = { data, origins: new Map() };
  for (const s of flagSettings()) {
    const f = s.meta.flag!;
    let value: unknown;
    let used = `--${f.name}`;
    const v = values[f.name];
    if (s.kind === 'boolean') {
      if (v === true) value = true;
      if (f.negatable && values[`no-${f.name}`] === true) {
        value = false;
        used = `--no-${f.name}`;
      }
    } else if (Array.isArray(v)) {
      if (v.length > 0) value = v.map(String);
    } else if (typeof v === 'string' && v !== '') {
      value = parseScalar(s, v, `flags: --${f.name}`);
    }
    if (value === undefined) continue;
    setPath(out.data, s.path, value);
    out.origins.set(s.key, used);
  }
  return out;
}
