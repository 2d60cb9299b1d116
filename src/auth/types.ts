/** Shared authentication types. */
import type { Profile } from '../core/permissions.js';

export type { Profile };
export { PROFILE_RANK } from '../core/permissions.js';

/** Parse a profile name, case-insensitively ('agent', 'super_agent', 'super-agent', 'superagent', ...). */
export function parseProfile(s: string): Profile | null {
  switch (s.toLowerCase().replace(/[-_ ]/g, '')) {
    case 'agent':
      return 'AGENT';
    case 'superagent':
      return 'SUPER_AGENT';
    case 'service':
      return 'SERVICE';
    case 'admin':
      return 'ADMIN';
    default:
      return null;
  }
}

export interface Identity {
  app: string;
  login: string;
  profile: Profile;
  grants?: { publish?: string[]; subscribe?: string[] };
  /** ms since epoch */
  expiresAt?: number;
}

export type AuthResult =
  | { ok: true; identity: Identity }
  | { ok: false; reason: 'bad-credentials' | 'not-authorized' | 'expired' | 'unavailable'; detail: string };
