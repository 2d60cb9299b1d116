import test from 'node:test';
import assert from 'node:assert/strict';
import { covers, outranks, overlaps, Permissions } from './permissions.js';
import type { Principal } from './permissions.js';

const agent: Principal = { clientId: 'a1', login: 'a1', profile: 'AGENT' };
const service: Principal = { clientId: 's1', login: 's1', profile: 'SERVICE' };
const admin: Principal = { clientId: 'x', login: 'x', profile: 'ADMIN' };

test('covers and overlaps', () => {
  assert.ok(covers('a/#', 'a/b/+'));
  assert.ok(covers('a/+', 'a/b'));
  assert.ok(!covers('a/+', 'a/#'));
  assert.ok(!covers('a/b', 'a/+'));
  assert.ok(covers('#', 'x/y'));
  assert.ok(!covers('#', '$inbox/x'));
  assert.ok(overlaps('#', 'secret/x'));
  assert.ok(overlaps('a/+/c', 'a/b/#'));
  assert.ok(!overlaps('a/b', 'a/c'));
  assert.ok(!overlaps('a/b', 'a/b/c'));
});

test('profile defaults', () => {
  const p = new Permissions([], { AGENT: { subscribe: ['news/#'] } });
  assert.ok(p.canPublish(agent, '$inbox/bob'));
  assert.ok(p.canSubscribe(agent, '$inbox/a1/#', false));
  assert.ok(!p.canSubscribe(agent, '$inbox/bob/#', false));
  assert.ok(p.canPublish(agent, 'users/a1/status'));
  assert.ok(!p.canPublish(agent, 'users/bob/status'));
  assert.ok(p.canSubscribe(agent, 'news/+', false));
  assert.ok(!p.canPublish(agent, 'news/x'));
  assert.ok(!p.canSubscribe(agent, 'jobs', true));
  assert.ok(p.canPublish(service, 'broadcast/all'));
  assert.ok(!p.canPublish(service, '$SYS/x'));
  assert.ok(p.canSubscribe(service, 'jobs', true));
  assert.ok(p.canSubscribe(service, '$dlq/#', false));
  assert.ok(!p.canSubscribe(agent, '$dlq/#', false));
  assert.ok(p.canSubscribe(admin, '#', false));
});

test('ordered rules with placeholders: first match wins', () => {
  const p = new Permissions([
    { permission: 'deny', action: 'subscribe', topic: 'secret/#' },
    { permission: 'allow', action: 'all', topic: 'team/%u/#', profiles: ['AGENT'] },
    { permission: 'allow', action: 'subscribe', topic: '#', profiles: ['SUPER_AGENT'] },
  ], {});
  assert.ok(p.canPublish(agent, 'team/a1/x'));
  assert.ok(!p.canPublish(agent, 'team/b2/x'));
  const sup: Principal = { clientId: 'sv', login: 'sv', profile: 'SUPER_AGENT' };
  assert.ok(!p.canSubscribe(sup, '#', false)); // overlaps the deny
  assert.ok(p.canSubscribe(sup, 'other/#', false));
  assert.ok(!p.canSubscribe(admin, 'secret/x', false)); // rules apply to ADMIN too
});

test('JWT grants add to the profile', () => {
  const p = new Permissions([], {});
  assert.ok(p.canPublish({ ...agent, grants: { publish: ['orders/%c/#'] } }, 'orders/a1/new'));
});

test('rank: who may monitor whom', () => {
  assert.ok(outranks('SUPER_AGENT', 'AGENT'));
  assert.ok(outranks('SERVICE', 'SUPER_AGENT'));
  assert.ok(!outranks('AGENT', 'AGENT'));
  assert.ok(!outranks('SERVICE', 'ADMIN'));
  assert.ok(outranks('ADMIN', 'SERVICE'));
});
