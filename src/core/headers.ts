/**
 * Message header / user property rules shared by every protocol.
 *
 * 1. Characters. A name, topic or header value that travels with a message must be representable
 *    in every protocol the message may reach. MQTT refuses C0 controls, DEL and C1 controls in
 *    strings (MQTT 5.0 section 1.5.4, see mqtt/codec/utf8.ts, which applies the same set to bytes);
 *    STOMP 1.0 has no escaping at all, so a CR or LF there ends a header line or the header block.
 *    So no protocol may let U+0000..U+001F or U+007F..U+009F into a message.
 *
 * 2. Broker-owned names. Some names are set by the broker on delivery (`from`, the sender) or by
 *    a STOMP MESSAGE frame itself (subscription, message-id, destination, ...). A client must not
 *    smuggle in a look-alike that a receiver could take for the real one: `From`, ` from`, `FROM`,
 *    `from:` and the like. Names are compared after `normaliseHeaderName` (cut at ':', trim,
 *    lowercase), and every variant of a broker-owned name is dropped, on input and on output.
 */

/** True for the code units no message string may contain: U+0000..U+001F, U+007F..U+009F. */
export function isForbiddenCharCode(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}

/** Index of the first forbidden character in `s` (see isForbiddenCharCode), or -1. */
export function findForbiddenChar(s: string): number {
  for (let i = 0; i < s.length; i++) if (isForbiddenCharCode(s.charCodeAt(i))) return i;
  return -1;
}

/** True when `s` holds no forbidden character: it can travel through every protocol. */
export function isPortableString(s: string): boolean {
  return findForbiddenChar(s) < 0;
}

/** "U+000A" for a code unit, for error messages. */
export function describeCharCode(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The name a lenient receiver may take `name` for: everything before the first ':', without
 * surrounding whitespace, lowercased. `From`, ` from `, `FROM:x` all normalise to `from`.
 */
export function normaliseHeaderName(name: string): string {
  const colon = name.indexOf(':');
  return (colon < 0 ? name : name.slice(0, colon)).trim().toLowerCase();
}

/** Names the broker stamps on every delivery, in every protocol (never taken from a client). */
export const BROKER_STAMPED_NAMES: ReadonlySet<string> = new Set(['from']);

/** Headers a STOMP MESSAGE frame sets itself (plus the broker-stamped ones): never copied from user properties. */
export const STOMP_MESSAGE_HEADER_NAMES: ReadonlySet<string> = new Set([
  ...BROKER_STAMPED_NAMES,
  'subscription',
  'message-id',
  'destination',
  'ack',
  'content-length',
  'content-type',
  'reply-to',
  'correlation-id',
  'receipt',
  'transaction',
]);

/** True when `name` is a broker-stamped name (`from`) or any case/whitespace/colon variant of one. */
export function isBrokerStamped(name: string): boolean {
  return BROKER_STAMPED_NAMES.has(normaliseHeaderName(name));
}

/** True when `name` is (a variant of) a header a STOMP MESSAGE sets itself, `from` included. */
export function isStompMessageHeader(name: string): boolean {
  return STOMP_MESSAGE_HEADER_NAMES.has(normaliseHeaderName(name));
}

/**
 * True when a user property must not be forwarded to a receiver: a look-alike of a
 * broker-stamped name, or a forbidden character in its name or value (strict MQTT receivers
 * treat those as a malformed packet and disconnect [MQTT-1.5.4-2]).
 */
export function isUnsafeUserProperty(name: string, value: string): boolean {
  return isBrokerStamped(name) || !isPortableString(name) || !isPortableString(value);
}

/**
 * `props` without the entries `drop` matches (called with name and value); the same array when
 * nothing matches (no allocation on the common path).
 */
export function withoutNames(props: Array<[string, string]>, drop: (name: string, value: string) => boolean): Array<[string, string]> {
  let i = 0;
  while (i < props.length && !drop(props[i]![0], props[i]![1])) i++;
  if (i === props.length) return props;
  const out = props.slice(0, i);
  for (i++; i < props.length; i++) {
    const p = props[i]!;
    if (!drop(p[0], p[1])) out.push(p);
  }
  return out;
}
