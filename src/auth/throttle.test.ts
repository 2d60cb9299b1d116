/** Login throttling: failure counters per address and per login, delays, pending cap, bounded tables (fake clock). */
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Application } from '../core/application.js';
import { DEFAULT_CONFIG } from '../config/defaults.js';
import type { ApplicationConfig, AuthConfig } from '../config/types.js';
import { Authenticator } from './authenticate.js';
import type { AuthSettings, LoginOutcome, LoginRequest } from './authenticate.js';
import { addressKey, LoginThrottle } from './throttle.js';
import type { ThrottleOptions } from './throttle.js';

function clock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

function throttle(o: Partial<ThrottleOptions> = {}): LoginThrottle {
  return new LoginThrottle({ windowMs: 1000, freeFailuresPerAddress: 2, freeFailuresPerLogin: 100, maxDelayMs: 400, maxPendingPerAddress: 5, ...o });
}

describe('LoginThrottle', () => {
  test('failures from one address: free ones, then 100 ms doubling up to maxDelayMs', () => {
    const c = clock();
    const t = throttle({ now: c.now });
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      t.fail('10.0.0.1', `login-${i}`); // a new login each time: only the address counts
      delays.push(t.delayFor('10.0.0.1', `login-${i}`));
    }
    assert.deepEqual(delays, [0, 0, 100, 200, 400, 400, 400]);
    assert.equal(t.delayFor('10.0.0.2', 'login-0'), 0); // another address is not slowed
  });

  test('failures for one login from many addresses are counted per login', () => {
    const c = clock();
    const t = throttle({ now: c.now, freeFailuresPerAddress: 100, freeFailuresPerLogin: 1 });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      t.fail(`10.0.0.${i}`, 'victim');
      delays.push(t.delayFor(`10.0.0.${i}`, 'victim'));
    }
    assert.deepEqual(delays, [0, 100, 200, 400]);
    assert.equal(t.delayFor('10.0.0.9', 'someone-else'), 0);
  });

  test('the answer waits for the larger of the address and login delays', () => {
    const t = throttle({ now: clock().now, freeFailuresPerAddress: 1, freeFailuresPerLogin: 3, maxDelayMs: 10_000 });
    for (let i = 0; i < 4; i++) t.fail('10.0.0.1', 'x'); // address: 3 over -> 400; login: 1 over -> 100
    assert.equal(t.delayFor('10.0.0.1', 'x'), 400);
    for (let i = 0; i < 4; i++) t.fail(`10.1.0.${i}`, 'y'); // login y: 1 over -> 100; those addresses: 0
    assert.equal(t.delayFor('10.1.0.0', 'y'), 100);
  });

  test('the window slides: failures fade over the next window and are gone after two', () => {
    const c = clock();
    const t = throttle({ now: c.now });
    for (let i = 0; i < 6; i++) t.fail('10.0.0.1', 'a');
    assert.equal(t.delayFor('10.0.0.1', 'a'), 400); // 6 failures: 4 over
    c.advance(1500); // half of the previous window still inside: 6 * 0.5 = 3 -> 1 over
    assert.equal(t.delayFor('10.0.0.1', 'a'), 100);
    t.fail('10.0.0.1', 'a'); // 3 + 1
    assert.equal(t.delayFor('10.0.0.1', 'a'), 200);
    c.advance(2000);
    assert.equal(t.delayFor('10.0.0.1', 'a'), 0);
    // A steady attacker never gets back to free failures: 3 per window with 2 free stays slowed.
    const s = throttle({ now: c.now });
    for (let i = 0; i < 30; i++) {
      s.fail('10.0.0.2', 'b');
      c.advance(333);
    }
    assert.ok(s.delayFor('10.0.0.2', 'b') >= 100);
  });

  test('IPv6 addresses count per /64; IPv4-mapped addresses as IPv4', () => {
    assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('2001:db8:0:1::1'), '2001:db8:0:1::/64');
    assert.equal(addressKey('2001:DB8:0:1:ffff:1:2:3'), '2001:db8:0:1::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey(''), '');
    const t = throttle({ now: clock().now });
    for (let i = 1; i <= 3; i++) t.fail(`2001:db8:0:1::${i.toString(16)}`, `l${i}`); // rotating inside one /64
    assert.equal(t.delayFor('2001:db8:0:1::ffff', 'l9'), 100);
    assert.equal(t.delayFor('2001:db8:0:2::1', 'l9'), 0);
  });

  test('pending logins are capped per address', () => {
    const t = throttle({ maxPendingPerAddress: 2 });
    assert.equal(t.full('10.0.0.1'), false);
    t.acquire('10.0.0.1');
    t.acquire('::ffff:10.0.0.1'); // the same host over an IPv6 listener
    assert.equal(t.full('10.0.0.1'), true);
    assert.equal(t.full('10.0.0.2'), false);
    t.release('10.0.0.1');
    assert.equal(t.full('10.0.0.1'), false);
    t.release('10.0.0.1');
    t.release('10.0.0.1'); // one too many is harmless
    assert.equal(t.pendingFor('10.0.0.1'), 0);
    assert.equal(t.sizes.pending, 0);
  });

  test('tables are bounded: counters forget the least recently failed, pending refuses new addresses when full', () => {
    const c = clock();
    const t = throttle({ now: c.now, maxEntries: 3, freeFailuresPerAddress: 0 });
    t.fail('10.0.0.1', 'keep');
    for (let i = 0; i < 1000; i++) {
      t.fail(`10.9.${i >> 8}.${i & 255}`, `junk-${i}`);
      if (i % 2 === 0) t.fail('10.0.0.1', 'keep'); // the attacker's own address keeps failing too
    }
    assert.deepEqual(t.sizes, { addresses: 3, logins: 3, pending: 0 });
    assert.ok(t.delayFor('10.0.0.1', 'x') > 0, 'the active attacker was not evicted by the junk');
    // Aged-out counters are dropped when new ones come.
    c.advance(5000);
    t.fail('10.0.0.5', 'fresh');
    assert.deepEqual(t.sizes, { addresses: 1, logins: 1, pending: 0 });
    // Pending counts cannot be forgotten: an address with no room is refused instead.
    for (const a of ['10.1.0.1', '10.1.0.2', '10.1.0.3']) t.acquire(a);
    assert.equal(t.full('10.1.0.4'), true);
    assert.equal(t.full('10.1.0.1'), false);
  });
});

// ---------------------------------------------------------------------------------------------
// Authenticator: the throttle as logins see it.

const APP: ApplicationConfig = {
  id: 'app',
  appKey: 'app-key',
  profileKeys: { AGENT: 'agent-key' },
  duplicateLogin: { AGENT: 'takeover', SUPER_AGENT: 'takeover', SERVICE: 'takeover', ADMIN: 'takeover' },
  acl: [],
  grants: {},
  presenceTopics: [],
};

const AUTH: AuthConfig = { failureWindowMs: 60_000, freeFailuresPerAddress: 2, freeFailuresPerLogin: 100, maxDelayMs: 400, maxPendingPerAddress: 3, maxTokenLifetime: 3600, allowAnonymous: false };

function authenticator(settings: Partial<AuthSettings> = {}, hook?: ConstructorParameters<typeof Authenticator>[2]): Authenticator {
  const app = new Application(APP, { limits: DEFAULT_CONFIG.limits, maxRedeliveries: 5 });
  return new Authenticator([app], null, hook, new Map([['app', app]]), { ...AUTH, ...settings });
}

const req = (login: string, secret: string, remoteAddress = '10.0.0.1'): LoginRequest => ({ protocol: 'mqtt', transport: 'tcp', appKey: 'app-key', login, secret, remoteAddress });

/** Resolve a login under mock timers, advancing the clock until it settles; returns the outcome and the ms it took. */
async function settle(t: TestContext, r: LoginOutcome | Promise<LoginOutcome>): Promise<{ outcome: LoginOutcome; ms: number; sync: boolean }> {
  if (!(r instanceof Promise)) return { outcome: r, ms: 0, sync: true };
  let done: LoginOutcome | undefined;
  void r.then((o) => (done = o));
  let ms = 0;
  for (;;) {
    for (let i = 0; i < 5; i++) await Promise.resolve();
    if (done !== undefined) return { outcome: done, ms, sync: false };
    t.mock.timers.tick(10);
    ms += 10;
    if (ms > 100_000) throw new Error('login never settled');
  }
}

describe('Authenticator throttling', () => {
  test('a valid key between guesses does not reset the address counter', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const auth = authenticator();
    const took: number[] = [];
    for (let i = 0; i < 6; i++) {
      const ok = await settle(t, auth.login(req(`good-${i}`, 'agent-key')));
      assert.equal(ok.outcome.ok, true);
      assert.equal(ok.sync, true, 'a profile-key success is answered synchronously');
      const bad = await settle(t, auth.login(req(`guess-${i}`, `wrong-${i}`)));
      assert.equal(bad.outcome.ok, false);
      took.push(bad.ms);
    }
    assert.deepEqual(took, [0, 0, 100, 200, 400, 400]);
  });

  test("another login's success does not reset a login's counter", async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const auth = authenticator({ freeFailuresPerAddress: 100, freeFailuresPerLogin: 1 });
    const took: number[] = [];
    for (let i = 0; i < 4; i++) {
      assert.equal((await settle(t, auth.login(req('legit', 'agent-key', `10.2.0.${i}`)))).outcome.ok, true);
      took.push((await settle(t, auth.login(req('victim', 'nope', `10.3.0.${i}`)))).ms);
    }
    assert.deepEqual(took, [0, 100, 200, 400]);
  });

  test('a delayed failure is pending until answered; past the cap logins are refused at once, unverified', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    let verified = 0;
    const auth = authenticator({ freeFailuresPerAddress: 0 }, () => {
      verified++;
      return null; // use the configured keys
    });
    const delayed = [auth.login(req('a', 'x')), auth.login(req('b', 'x')), auth.login(req('c', 'x'))];
    assert.ok(delayed.every((r) => r instanceof Promise));
    assert.equal(auth.throttle.pendingFor('10.0.0.1'), 3);
    const busy = auth.login(req('d', 'agent-key')); // even a right key: nothing is verified
    assert.ok(!(busy instanceof Promise));
    assert.deepEqual(busy.ok ? null : [busy.code, verified], ['SB_ERR_SERVER_BUSY', 3]);
    // Another address is not affected, and its sync success is neither pending nor a Promise.
    const other = auth.login(req('e', 'agent-key', '10.0.0.2'));
    assert.ok(!(other instanceof Promise) && other.ok);
    const outcomes: Array<{ outcome: LoginOutcome }> = [];
    for (const r of delayed) outcomes.push(await settle(t, r));
    assert.ok(outcomes.every((o) => !o.outcome.ok && o.outcome.code === 'SB_ERR_BAD_CREDENTIALS'));
    assert.equal(auth.throttle.pendingFor('10.0.0.1'), 0);
    const again = auth.login(req('d', 'agent-key'));
    assert.ok(!(again instanceof Promise) && again.ok);
  });

  test('asynchronous verification holds a slot until decided, success or not', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const releases: Array<() => void> = [];
    const auth = authenticator({ maxPendingPerAddress: 1 }, () =>
      new Promise((resolve) => releases.push(() => resolve({ app: 'app', profile: 'AGENT' }))),
    );
    const first = auth.login(req('a', 'whatever'));
    assert.ok(first instanceof Promise);
    const second = auth.login(req('b', 'whatever'));
    assert.ok(!(second instanceof Promise) && !second.ok && second.code === 'SB_ERR_SERVER_BUSY');
    assert.equal(releases.length, 1);
    releases[0]!();
    assert.equal((await first).ok, true);
    assert.equal(auth.throttle.pendingFor('10.0.0.1'), 0);
  });

  test('a verification that throws releases its slot', async () => {
    const auth = authenticator({ maxPendingPerAddress: 1 }, () => Promise.reject(new Error('backend down')));
    await assert.rejects(Promise.resolve(auth.login(req('a', 'x'))), /backend down/);
    assert.equal(auth.throttle.pendingFor('10.0.0.1'), 0);
  });

  test('free failures are answered without delay, and leave nothing pending', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const auth = authenticator();
    const unknownApp = auth.login({ ...req('a', 'agent-key'), appKey: 'no-such-app' });
    assert.ok(!(unknownApp instanceof Promise) && !unknownApp.ok && unknownApp.code === 'SB_ERR_BAD_CREDENTIALS');
    const wrongKey = await settle(t, auth.login(req('b', 'wrong')));
    assert.deepEqual([wrongKey.outcome.ok, wrongKey.ms], [false, 0]);
    assert.equal(auth.throttle.pendingFor('10.0.0.1'), 0);
  });
});
