/**
 * Identities are literals: for any client id, login and topic/filter (wildcards, '/', '$',
 * empty levels included), a rule or default built on %c / %u only ever grants the identity's
 * own space. fast-check generates the inputs; the reference is a plain string comparison.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Permissions } from './permissions.js';
import type { Principal } from './permissions.js';
import { topicMatches } from './topic.js';

// Characters that matter to topics plus ordinary ones: identities and levels are built from these.
const char = fc.constantFrom('a', 'b', 'x', '1', '+', '#', '/', '$', '%', 'c', 'u', ' ', '-', 'é');
const identity = fc.string({ unit: char, minLength: 0, maxLength: 6 });
const level = fc.oneof(fc.string({ unit: char, minLength: 0, maxLength: 4 }).filter((s) => !s.includes('/')), fc.constantFrom('+', '#', 'calls', 'users', '$inbox'));
const pathOf = (min: number) => fc.array(level, { minLength: min, maxLength: 5 }).map((l) => l.join('/'));

/** A topic name: no wildcard characters at all. */
const topic = pathOf(1).filter((t) => t.length > 0 && !t.includes('+') && !t.includes('#'));
/** A valid subscription filter: '+' and '#' only as whole levels, '#' last. */
const filter = pathOf(1).filter((f) => {
  const l = f.split('/');
  return f.length > 0 && l.every((x, i) => (x.includes('+') || x.includes('#') ? x.length === 1 && (x === '+' || i === l.length - 1) : true));
});

/**
 * Is `t` in the space `<base>/<id>` (the topic itself or below it)? An id with '/' in it owns
 * nothing: "calls/bob/x/1" belongs to bob, not to a login "bob/x".
 */
function owned(base: string, id: string, t: string): boolean {
  const prefix = `${base}/${id}`;
  return !id.includes('/') && (t === prefix || t.startsWith(`${prefix}/`));
}

const RULES = new Permissions(
  [
    { permission: 'allow', action: 'all', topic: 'calls/%u/#' },
    { permission: 'allow', action: 'all', topic: 'desk/%c' },
  ],
  { AGENT: { publish: ['orders/%c/#'], subscribe: ['orders/%c/#'] } },
);

const agent = (clientId: string, login: string): Principal => ({ clientId, login, profile: 'AGENT' });

test('publish: an identity-substituted rule never reaches a topic outside the identity\'s own space', () => {
  fc.assert(
    fc.property(identity, identity, topic, (clientId, login, t) => {
      const p = agent(clientId, login);
      if (!RULES.canPublish(p, t)) return;
      const own =
        t.startsWith('$inbox/') || // direct messages: open to everyone by design
        owned('calls', login, t) ||
        owned('users', login, t) ||
        owned('orders', clientId, t) ||
        (t === `desk/${clientId}` && !clientId.includes('/'));
      assert.ok(own, `${JSON.stringify(p)} may publish ${JSON.stringify(t)}`);
    }),
    { numRuns: 3000 },
  );
});

test('subscribe: an allowed filter matches no topic outside the identity\'s own space', () => {
  fc.assert(
    fc.property(identity, identity, filter, topic, (clientId, login, f, t) => {
      const p = agent(clientId, login);
      if (!RULES.canSubscribe(p, f, false) || !topicMatches(f, t)) return;
      const own =
        owned('$inbox', clientId, t) ||
        owned('calls', login, t) ||
        owned('users', login, t) ||
        owned('orders', clientId, t) ||
        (t === `desk/${clientId}` && !clientId.includes('/'));
      assert.ok(own, `${JSON.stringify(p)} subscribed ${JSON.stringify(f)}, which matches ${JSON.stringify(t)}`);
    }),
    { numRuns: 3000 },
  );
});

test('the attacks of the security review, as examples', () => {
  for (const id of ['#', '+', '+/#', 'a/#', '#/x']) {
    const p = agent(id, id);
    assert.ok(!RULES.canSubscribe(p, '$inbox/#', false), `${id}: $inbox/#`);
    assert.ok(!RULES.canSubscribe(p, '$inbox/+', false), `${id}: $inbox/+`);
    assert.ok(!RULES.canSubscribe(p, 'users/#', false), `${id}: users/#`);
    assert.ok(!RULES.canSubscribe(p, 'calls/#', false), `${id}: calls/#`);
    assert.ok(!RULES.canPublish(p, 'users/bob/x'), `${id}: users/bob/x`);
    assert.ok(!RULES.canPublish(p, 'calls/bob/x'), `${id}: calls/bob/x`);
  }
  // A literal identity still gets its own space, including with characters MQTT allows.
  const odd = agent('ag ent', 'ag ent');
  assert.ok(RULES.canSubscribe(odd, '$inbox/ag ent/#', false));
  assert.ok(RULES.canPublish(odd, 'calls/ag ent/1'));
});
