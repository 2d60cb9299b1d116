/**
 * Client identifiers and logins as they enter the broker.
 *
 * Identities are substituted into permission patterns (%c, %u), inbox topics ($inbox/<id>)
 * and presence/monitor topics, so inside an application they must be one plain topic level:
 * no '+' or '#' (never a wildcard), no '/' (never an extra level), no control characters
 * (never a header or line break in another protocol). Development mode (no application) keeps
 * MQTT's wider rules [MQTT-3.1.3-5]: any UTF-8 string without control characters.
 * The permission matcher treats identities as literals either way (core/permissions.ts).
 */
import { isPortableString } from './headers.js';

/** Why `id` may not be used as a client id / login, or null when it may. */
export function loginIdProblem(id: string, strict: boolean, maxLength: number): string | null {
  if (id.length > maxLength) return `longer than ${maxLength} characters`;
  if (!isPortableString(id)) return 'contains a control character';
  if (!strict) return null;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c === 0x2b || c === 0x23) return `contains the wildcard "${id[i]}"`;
    if (c === 0x2f) return 'contains "/"';
  }
  return null;
}
