/**
 * The generated reference of every setting: the --help sections (options, settings,
 * environment) and docs/configuration.md. Both come from the schema (schema.ts) via SETTINGS.
 */
import { flagSettings, flagUsage, OTHER_FLAGS, TRAILING_FLAGS } from './flags.js';
import { OTHER_ENV_VARS, SETTINGS } from './load.js';
import type { Setting } from './settings.js';

/** Descriptions mark code with backticks: kept in Markdown, dropped in plain text. */
const plain = (s: string): string => s.replace(/`/g, '');

function humanize(n: number, unit: 'bytes' | 'seconds'): string {
  const steps: Array<[number, string]> =
    unit === 'bytes'
      ? [[1024 ** 3, 'GiB'], [1024 ** 2, 'MiB'], [1024, 'KiB']]
      : [[86_400, 'days'], [3600, 'hours'], [60, 'minutes']];
  for (const [size, name] of steps) if (n >= size && n % size === 0) return ` (${n / size} ${n / size === 1 ? name.replace(/s$/, '') : name})`;
  return '';
}

function formatValue(v: unknown, unit?: 'bytes' | 'seconds'): string {
  if (typeof v === 'number' && unit !== undefined) return `${v}${humanize(v, unit)}`;
  if (Array.isArray(v)) return v.length === 0 ? '[]' : v.every((x) => typeof x === 'string') ? v.join(', ') : JSON.stringify(v);
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

/** The default as shown: the declared value, the words for it, "required" or "none". */
export function formatDefault(s: Setting): string {
  if (s.meta.defaultText !== undefined) return s.meta.defaultText;
  if (s.hasDefault) return formatValue(s.default, s.meta.unit);
  return s.required ? 'required' : 'none';
}

/** `integer 1..65535`, `integer >= 0`, `takeover | reject`, `boolean`, `list of strings`. */
export function formatType(s: Setting): string {
  switch (s.kind) {
    case 'integer':
    case 'number': {
      const range = s.min !== undefined && s.max !== undefined ? ` ${s.min}..${s.max}` : s.min !== undefined ? ` >= ${s.min}` : s.max !== undefined ? ` <= ${s.max}` : '';
      return `${s.kind}${range}`;
    }
    case 'enum':
      return (s.values ?? []).join(' | ');
    case 'list':
      return s.values ? `list of ${s.values.join(' | ')}` : 'list of strings';
    case 'array':
      return 'list';
    default:
      return s.kind;
  }
}

function row(left: string, right: string, width: number): string {
  return left.length < width ? `${left.padEnd(width)}${right}` : `${left}  ${right}`;
}

/** --help: the options, setting flags included. */
export function helpOptions(): string {
  const lines = [...OTHER_FLAGS.map((f) => row(`  ${f.usage}`, f.description, 28))];
  for (const s of flagSettings()) {
    const repeat = s.kind === 'list' ? ', repeatable' : '';
    lines.push(row(`  ${flagUsage(s)}`, `${s.key}${repeat}: ${plain(s.meta.description)}`, 28));
  }
  lines.push(...TRAILING_FLAGS.map((f) => row(`  ${f.usage}`, f.description, 28)));
  return `Options:\n${lines.join('\n')}\n`;
}

/** --help: every setting, with its type, default and description. */
export function helpSettings(): string {
  const lines: string[] = [];
  for (const s of SETTINGS) {
    if (s.meta.section) {
      lines.push('', `  ${s.key}: ${plain(s.meta.description)}`);
      continue;
    }
    if (s.path.length === 1) lines.push('');
    const dflt = formatDefault(s);
    const secret = s.meta.secret ? ', secret' : '';
    lines.push(`  ${s.key}  (${formatType(s)}${secret}) ${s.required ? 'required' : `default: ${dflt}`}`);
    lines.push(`      ${plain(s.meta.description)}`);
  }
  return `Settings (configuration file keys; in a file, with --set KEY=VALUE, or from the environment):\n${lines.join('\n')}\n`;
}

/** --help: every environment variable. */
export function helpEnvironment(): string {
  const lines = Object.entries(OTHER_ENV_VARS).map(([k, v]) => row(`  ${k}`, plain(v), 52));
  for (const s of SETTINGS) {
    s.env.forEach((name, i) => {
      const what = `${s.key}${s.kind === 'list' ? ' (comma-separated)' : ''}${i > 0 ? ` (short for ${s.env[0]})` : ''}`;
      lines.push(row(`  ${name}`, what, 52));
    });
  }
  return `Environment (SWITCHBOARD_<SECTION>_<KEY> for every single-valued setting; the long name wins over a short one; booleans: true or false):\n${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// docs/configuration.md

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string): string => (s === '' ? '' : `\`${s}\``);

function table(head: string[], rows: string[][]): string[] {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

function mdDefault(s: Setting): string {
  if (s.meta.defaultText !== undefined) return s.meta.defaultText;
  if (!s.hasDefault) return s.required ? '**required**' : '';
  const text = formatValue(s.default, s.meta.unit);
  const human = text.indexOf(' (');
  return human > 0 && s.meta.unit !== undefined ? `${code(text.slice(0, human))}${text.slice(human)}` : code(text);
}

function mdType(s: Setting): string {
  if (s.kind === 'enum') return (s.values ?? []).map((v) => code(String(v))).join(' | ');
  if (s.kind === 'list' && s.values) return `list of ${s.values.map((v) => code(String(v))).join(' | ')}`;
  return formatType(s);
}

export const DOCS_PATH = 'docs/configuration.md';

/** docs/configuration.md, generated (`npm run docs`; a test fails when the file is out of date). */
export function renderMarkdown(): string {
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs`: do not edit by hand. src/config/docs.test.ts fails when this file is out of date. -->',
    '',
    'Settings come from, in increasing precedence: the defaults below, the configuration file',
    '(`--config FILE` or `SWITCHBOARD_CONFIG`; YAML or JSON, keys as below), `SWITCHBOARD_*`',
    'environment variables, command-line flags (`--set KEY=VALUE` reaches any setting; VALUE is',
    'parsed as JSON when it can be). A bad value stops the broker with a message naming the key and',
    'where it came from (the file, the variable, the flag); unknown keys are errors.',
    '`switchboard check-config FILE` validates a configuration and prints it resolved, secrets hidden.',
    '',
    'Every setting that holds a single value can also be set from the environment as',
    '`SWITCHBOARD_<SECTION>_<KEY>` (`limits.maxQueuedBytes` = `SWITCHBOARD_LIMITS_MAX_QUEUED_BYTES`);',
    'lists are comma-separated, booleans `true` or `false` (`1`/`0`, `yes`/`no`, `on`/`off`). A few have a',
    'shorter name too; the long name wins when both are set.',
    '',
    'Secrets (marked below) are never printed: `check-config` shows them as `***`.',
  ];
  const groups = new Map<string, Setting[]>();
  for (const s of SETTINGS) {
    const g = groups.get(s.path[0]!) ?? [];
    g.push(s);
    groups.set(s.path[0]!, g);
  }
  for (const [name, members] of groups) {
    out.push('', `## ${name}`, '');
    const head = members[0]!;
    let rows = members;
    if (head.meta.section || head.kind === 'array') {
      out.push(head.meta.description, '');
      if (head.kind === 'array') out.push(`Default: ${mdDefault(head)}. Each element has these keys:`, '');
      rows = members.slice(1);
    }
    const inArray = rows.every((s) => s.env.length === 0 && s.meta.flag === undefined);
    if (inArray) {
      out.push(...table(['Key', 'Type', 'Default', 'Description'], rows.map((s) => [code(s.key), mdType(s), mdDefault(s), describe(s)])));
    } else {
      out.push(
        ...table(
          ['Key', 'Type', 'Default', 'Description', 'Environment', 'Flag'],
          rows.map((s) => [code(s.key), mdType(s), mdDefault(s), describe(s), s.env.map(code).join(', '), s.meta.flag ? code(flagUsage(s)) : '']),
        ),
      );
    }
  }
  out.push('', '## Other environment variables', '');
  out.push(...table(['Variable', 'Meaning'], Object.entries(OTHER_ENV_VARS).map(([k, v]) => [code(k), v])));
  return `${out.join('\n')}\n`;
}

function describe(s: Setting): string {
  return `${s.meta.description}${s.meta.secret ? ' (**secret**)' : ''}`;
}
