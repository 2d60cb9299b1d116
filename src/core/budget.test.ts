import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget } from './budget.js';
import { Router, subscriptionSize } from './router.js';
import { createMessage, messageSize } from './message.js';

const LIMITS = { maxQueuedMessages: 100, maxQueuedBytes: 1_000_000, maxRetained: 100, maxRetainedPerClient: 100, maxRetainedBytesPerClient: 1_000_000, maxStoredBytesPerApp: 1_000_000 };

test('the budget is exceeded only past its limit', () => {
  const b = new MemoryBudget(10);
  b.add(10);
  assert.equal(b.exceeded, false);
  b.add(1);
  assert.equal(b.exceeded, true);
  b.sub(1);
  assert.equal(b.exceeded, false);
});

test('one budget for every application: retained messages, subscriptions and queued messages of each router are charged to it (at their full size) and released', () => {
  const retained = createMessage('r', Buffer.alloc(30), 0, true, null, 0, null);
  const queued = createMessage('q', Buffer.alloc(40), 1, false, null, 0, null);
  const sub = { raw: 'q', filter: 'q', group: null, qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const, subscriptionId: 0 };
  const subCost = subscriptionSize({ subscriber: { clientId: 's' } as never, ...sub });
  const budget = new MemoryBudget(10_000);
  // The application's own cap leaves room for the subscription and one queued message, not two.
  const cap = subCost + messageSize(queued) + 50;
  const a = new Router({ limits: LIMITS, budget });
  const b = new Router({ limits: { ...LIMITS, maxStoredBytesPerApp: cap }, budget });
  a.publish(retained);
  assert.equal(budget.used, messageSize(retained));
  const session = b.attach('s', { deliver: () => undefined, close: () => undefined, pump: () => undefined }, true).session;
  b.setExpiry(session, 60);
  b.detach(session, session.link!);
  b.subscribe(session, { subscriber: session, ...sub });
  b.publish(queued);
  assert.equal(budget.used, messageSize(retained) + subCost + messageSize(queued));
  // The application's own cap refuses before the broker's budget is touched.
  b.publish(createMessage('q', Buffer.alloc(20), 1, false, null, 0, null));
  assert.deepEqual([session.queued, b.storedBytes], [1, subCost + messageSize(queued)]);
  a.publish(createMessage('r', Buffer.alloc(0), 0, true, null, 0, null)); // cleared
  session.dequeue(0);
  b.unsubscribe(session, 'q');
  assert.equal(budget.used, 0);
});
