/**
 * UTF-8 string validation for MQTT (MQTT 5.0 section 1.5.4): well-formed UTF-8, no encoded
 * surrogates [MQTT-1.5.4-1], no U+0000 [MQTT-1.5.4-2]. Like Mosquitto we also refuse the
 * control characters U+0001..U+001F and U+007F..U+009F, which the specification says a
 * sender SHOULD NOT use and a receiver MAY treat as malformed [MQTT-1.5.4-3 note].
 * Hand-written: it runs on every topic, so the ASCII case is one tight loop.
 */
export function isValidMqttString(buf: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    if (b < 0x80) {
      if (b < 0x20 || b === 0x7f) return false;
      i++;
      continue;
    }
    let cp: number;
    let n: number;
    if (b >= 0xc2 && b <= 0xdf) {
      n = 1;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      cp = b & 0x07;
    } else return false;
    if (i + n >= end) return false; // truncated sequence
    for (let k = 1; k <= n; k++) {
      const c = buf[i + k]!;
      if ((c & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong forms, surrogates, beyond U+10FFFF, C1 controls.
    if ((n === 2 && cp < 0x800) || (n === 3 && (cp < 0x10000 || cp > 0x10ffff))) return false;
    if (cp >= 0xd800 && cp <= 0xdfff) return false;
    if (cp >= 0x80 && cp <= 0x9f) return false;
    i += n + 1;
  }
  return true;
}

/** scanTopicName result: a valid name made only of ASCII (decode it as latin1, the cheapest way). */
export const TOPIC_ASCII = 0;
/** scanTopicName result: a valid name with multi-byte characters. */
export const TOPIC_UTF8 = 1;
/** scanTopicName result: not a valid MQTT UTF-8 string [MQTT-1.5.4-1..2]. */
export const TOPIC_BAD_UTF8 = -1;
/** scanTopicName result: contains '+' or '#', which a Topic Name must not [MQTT-3.3.2-2]. */
export const TOPIC_WILDCARD = -2;

/**
 * One pass over a PUBLISH Topic Name: UTF-8 validity and the wildcard check together.
 * '+' (0x2B) and '#' (0x23) can never occur inside a multi-byte UTF-8 sequence (every byte of one
 * is >= 0x80), so a byte-level search for them is exact.
 */
export function scanTopicName(buf: Buffer, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b >= 0x80) {
      if (!isValidMqttString(buf, i, end)) return TOPIC_BAD_UTF8;
      for (let k = i; k < end; k++) {
        const c = buf[k]!;
        if (c === 0x2b || c === 0x23) return TOPIC_WILDCARD;
      }
      return TOPIC_UTF8;
    }
    if (b < 0x20 || b === 0x7f) return TOPIC_BAD_UTF8;
    if (b === 0x2b || b === 0x23) {
      // Bad UTF-8 later in the name is just as malformed; report the wildcard.
      return TOPIC_WILDCARD;
    }
  }
  return TOPIC_ASCII;
}
