/**
 * Every `$` namespace with --workers 2 (namespace-suite.ts): the workers' Unix-socket mesh.
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Dealer, startCluster, writeConfig } from './helpers.js';
import type { RunningCluster } from './helpers.js';
import { namespaceSuite } from './namespace-suite.js';

let cl: RunningCluster;
let d: Dealer;
before(async () => {
  cl = await startCluster(2, ['--config', writeConfig(), '--log-level', 'warn', '--set', 'sys.interval=1']);
  d = new Dealer(cl);
});
after(async () => {
  await d.closeAll();
  assert.equal(await cl.stop(), 0);
});

namespaceSuite(() => ({ d, nodes: ['0', '1'] }));
