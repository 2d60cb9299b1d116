/**
 * Topic names and filters (MQTT 5.0 section 4.7; STOMP destinations map onto the same space).
 *
 *   name   "sport/tennis/player1"   no wildcards, at least one character     [MQTT-4.7.3-1]
 *   filter "sport/+/player1"        '+' fills exactly one whole level        [MQTT-4.7.1-2]
 *   filter "sport/#"                '#' is last and fills the rest (incl. "sport") [MQTT-4.7.1-1]
 *   "$SYS/..." names are not matched by filters starting with '+' or '#'     [MQTT-4.7.2-1]
 *   "$share/GROUP/FILTER" is a shared subscription to FILTER                 [MQTT-4.8.2-1]
 */

export interface TopicLimits {
  maxTopicLength: number;
  maxTopicLevels: number;
}

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;

/** True when `topic` is a valid topic name for PUBLISH. */
export function isValidTopicName(topic: string, limits?: TopicLimits): boolean {
  const n = topic.length;
  if (n === 0) return false; // [MQTT-4.7.3-1]
  // One pass (every publish comes through here): wildcards and levels counted together.
  const maxLevels = limits === undefined ? Infinity : limits.maxTopicLevels;
  if (limits !== undefined && n > limits.maxTopicLength) return false;
  let levels = 1;
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    if (c === SLASH) {
      if (++levels > maxLevels) return false;
    } else if (c === PLUS || c === HASH) return false; // [MQTT-3.3.2-2]
  }
  return true;
}

/**
 * The configured limits only (length, levels; not wildcards). Every publish comes through here:
 * a topic with fewer characters than the level limit cannot exceed it and is not scanned.
 */
export function withinTopicLimits(topic: string, limits: TopicLimits): boolean {
  const n = topic.length;
  if (n === 0 || n > limits.maxTopicLength) return false;
  if (n < limits.maxTopicLevels) return true;
  let levels = 1;
  for (let i = topic.indexOf('/'); i !== -1; i = topic.indexOf('/', i + 1)) if (++levels > limits.maxTopicLevels) return false;
  return true;
}

/** True when `filter` is a valid topic filter (no $share prefix handling here). */
export function isValidTopicFilter(filter: string, limits?: TopicLimits): boolean {
  if (filter.length === 0) return false; // [MQTT-4.7.3-1]
  if (limits && (filter.length > limits.maxTopicLength || countLevels(filter) > limits.maxTopicLevels)) return false;
  const n = filter.length;
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === PLUS) {
      // '+' must occupy an entire level [MQTT-4.7.1-2]
      if ((i > 0 && filter.charCodeAt(i - 1) !== SLASH) || (i + 1 < n && filter.charCodeAt(i + 1) !== SLASH)) return false;
    } else if (c === HASH) {
      // '#' must be last and occupy an entire level [MQTT-4.7.1-1]
      if (i !== n - 1 || (i > 0 && filter.charCodeAt(i - 1) !== SLASH)) return false;
    }
  }
  return true;
}

export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

function countLevels(s: string): number {
  let n = 1;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === SLASH) n++;
  return n;
}

export interface ParsedFilter {
  /** The filter to match topics with ($share prefix removed). */
  filter: string;
  /** Share group name, or null for an ordinary subscription. */
  group: string | null;
}

/**
 * Split "$share/GROUP/FILTER". Returns null when the share syntax is invalid:
 * GROUP must be non-empty without '/', '+', '#' and a FILTER must follow [MQTT-4.8.2-1, 4.8.2-2].
 */
export function parseFilter(raw: string): ParsedFilter | null {
  if (!raw.startsWith('$share/')) return { filter: raw, group: null };
  const slash = raw.indexOf('/', 7);
  if (slash <= 7) return null;
  const group = raw.slice(7, slash);
  if (group.includes('+') || group.includes('#')) return null;
  const filter = raw.slice(slash + 1);
  if (filter.length === 0) return null;
  return { filter, group };
}

/**
 * Does `filter` match `topic`? Walks both strings level by level without allocating (used
 * per delivery by protocols that map a message back to their own subscriptions).
 */
export function filterMatches(filter: string, topic: string): boolean {
  const f0 = filter.charCodeAt(0);
  if (topic.charCodeAt(0) === 0x24 && (f0 === PLUS || f0 === HASH)) return false; // [MQTT-4.7.2-1]
  let fi = 0;
  let ti = 0;
  const fn = filter.length;
  const tn = topic.length;
  for (;;) {
    const fEnd = indexOrEnd(filter, fi, fn);
    if (fEnd - fi === 1 && filter.charCodeAt(fi) === HASH) return true; // rest, parent included
    if (ti > tn) return false; // topic has no more levels
    const tEnd = indexOrEnd(topic, ti, tn);
    if (!(fEnd - fi === 1 && filter.charCodeAt(fi) === PLUS)) {
      const len = fEnd - fi;
      if (len !== tEnd - ti) return false;
      for (let k = 0; k < len; k++) if (filter.charCodeAt(fi + k) !== topic.charCodeAt(ti + k)) return false;
    }
    fi = fEnd + 1;
    ti = tEnd + 1;
    if (fi > fn) return ti > tn; // filter done: the topic must be done too
  }
}

function indexOrEnd(s: string, from: number, n: number): number {
  const i = s.indexOf('/', from);
  return i < 0 ? n : i;
}

/** Does `filter` match `topic`? (Used outside the trie: retained lookups on small sets, tests.) */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 0x24 /* $ */ && (filter.charCodeAt(0) === PLUS || filter.charCodeAt(0) === HASH)) {
    return false; // [MQTT-4.7.2-1]
  }
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const fl = f[i];
    if (fl === '#') return true; // matches the parent level too: "a/#" matches "a"
    if (i >= t.length) return false;
    if (fl !== '+' && fl !== t[i]) return false;
  }
  return f.length === t.length;
}
