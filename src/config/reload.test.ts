import test from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG } from './defaults.js';
import { applied, restartNeeded } from './reload.js';
import type { BrokerConfig } from './types.js';

test('restartNeeded: the changed settings a reload cannot apply, by key; live ones are not listed', () => {
  const next: BrokerConfig = {
    ...DEFAULT_CONFIG,
    listen: ['mqtt://127.0.0.1:1884'],
    limits: { ...DEFAULT_CONFIG.limits, maxConnections: 7 },
    tls: { cert: 'new.pem', key: 'new.key' },
    ws: { allowedOrigins: ['https://app.example.com'] },
  };
  assert.deepEqual(restartNeeded(DEFAULT_CONFIG, next), ['listen', 'limits.maxConnections']);
  assert.deepEqual(restartNeeded(DEFAULT_CONFIG, { ...DEFAULT_CONFIG }), []);
  assert.deepEqual(restartNeeded(DEFAULT_CONFIG, { ...DEFAULT_CONFIG, store: { ...DEFAULT_CONFIG.store, dataDir: '/elsewhere' } }), ['store.dataDir']);
});

test('applied: the live settings of the new configuration, the running values of the rest', () => {
  const next: BrokerConfig = { ...DEFAULT_CONFIG, listen: ['mqtt://127.0.0.1:1884'], ws: { allowedOrigins: ['https://a.example'] }, limits: { ...DEFAULT_CONFIG.limits, maxConnections: 7 } };
  const now = applied(DEFAULT_CONFIG, next, restartNeeded(DEFAULT_CONFIG, next));
  assert.deepEqual(now.listen, DEFAULT_CONFIG.listen);
  assert.equal(now.limits.maxConnections, DEFAULT_CONFIG.limits.maxConnections);
  assert.deepEqual(now.ws.allowedOrigins, ['https://a.example']);
  assert.deepEqual(restartNeeded(now, next), ['listen', 'limits.maxConnections'], 'reloading the same file again reports them again');
});
