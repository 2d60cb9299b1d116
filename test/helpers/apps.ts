/** The contact-centre application of examples/contact-centre.yaml, as tests configure it. */
import type { ApplicationConfig } from '../../src/config/types.js';

export const APP_KEY = 'my_app_secret_key';
export const KEYS = {
  AGENT: 'my_agent_secret_key',
  SUPER_AGENT: 'my_super_agent_secret_key',
  SERVICE: 'my_service_secret_key',
  ADMIN: 'my_admin_secret_key',
} as const;

export function contactCentre(extra: Partial<ApplicationConfig> = {}): ApplicationConfig {
  return {
    id: 'cc',
    appKey: APP_KEY,
    profileKeys: { ...KEYS },
    duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'reject', ADMIN: 'reject' },
    acl: [
      { permission: 'deny', action: 'publish', topic: 'calls/+/recording' },
      { permission: 'allow', action: 'all', topic: 'calls/%u/#', profiles: ['AGENT', 'SUPER_AGENT'] },
      { permission: 'allow', action: 'subscribe', topic: 'calls/#', profiles: ['SUPER_AGENT', 'SERVICE'] },
      { permission: 'allow', action: 'publish', topic: 'calls/#', profiles: ['SERVICE'] },
    ],
    grants: { AGENT: { subscribe: ['announcements/#'] }, SUPER_AGENT: { subscribe: ['announcements/#'], publish: ['announcements/team'] } },
    presenceTopics: ['rooms/#'],
    ...extra,
  };
}
