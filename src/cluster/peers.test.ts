/**
 * PeerBus over an in-memory transport: what a node sees of a peer that died holding sessions
 * while a survivor takes them in (shared store, confirmations on).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { createMessage } from '../core/message.js';
import type { BusHandler, Claim, NodeId } from '../core/bus.js';
import { PeerBus } from './peers.js';
import { decodeFrames } from './wire.js';
import type { PeerFrame } from './wire.js';

/** Nodes on one in-memory network: frames are delivered in order, on a later microtask. */
class Net {
  readonly buses = new Map<NodeId, MemBus>();
  readonly cut = new Set<NodeId>();
}

class MemBus extends PeerBus {
  constructor(
    node: NodeId,
    private readonly net: Net,
  ) {
    super(node, pino({ level: 'silent' }));
    net.buses.set(node, this);
  }

  async start(handler: BusHandler): Promise<void> {
    this.handler = handler;
  }

  async stop(): Promise<void> {
    this.endConfirmations();
  }

  protected linkTo(): null {
    return null;
  }

  protected write(node: NodeId, buf: Buffer): boolean {
    const to = this.net.buses.get(node);
    if (to === undefined || this.net.cut.has(node) || this.net.cut.has(this.node)) return false;
    queueMicrotask(() => decodeFrames(buf, 0, (f) => to.deliver(f, this.node)));
    return true;
  }

  deliver(f: PeerFrame, from: NodeId): void {
    if (!this.net.cut.has(this.node)) this.frame(f, from);
  }

  connect(node: NodeId): void {
    this.peerUp(node);
  }

  died(node: NodeId): void {
    this.peerDown(node, true);
  }
}

class Handler implements BusHandler {
  held: Claim[] = [];
  /** The adoption under way (orphans), ended by calling it. */
  adopting: (() => void) | null = null;
  orphaned: NodeId[] = [];
  message(): void {}
  claimed(): void {}
  interest(): void {}
  retained(): Iterable<{ app: string; msg: never }> {
    return [];
  }
  *claims(): Iterable<{ app: string; claim: Claim }> {
    for (const claim of this.held) yield { app: 'app', claim };
  }
  nodeUp(): void {}
  nodeDown(): void {}
  orphanWill(): void {}
  orphans(node: NodeId): Promise<void> {
    this.orphaned.push(node);
    return new Promise((resolve) => (this.adopting = resolve));
  }
  take(): Promise<void> {
    return Promise.resolve();
  }
  flushed(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Nodes a, b and c, all linked; c holds a parked session subscribed to x/#. */
async function cluster(): Promise<{ net: Net; a: MemBus; b: MemBus; ha: Handler }> {
  const net = new Net();
  const nodes = ['a', 'b', 'c'].map((n) => new MemBus(n, net));
  const handlers = nodes.map(() => new Handler());
  handlers[2]!.held = [{ clientId: 'parked', profile: 'AGENT', online: false, since: 1, protocol: 'mqtt', transport: 'tcp' }];
  for (const [i, bus] of nodes.entries()) {
    await bus.start(handlers[i]!);
    bus.confirmStored();
  }
  nodes[2]!.subscribe('app', 'x/#');
  for (const bus of nodes) for (const other of nodes) if (other !== bus) bus.connect(other.node);
  await settle();
  return { net, a: nodes[0]!, b: nodes[1]!, ha: handlers[0]! };
}

function publishQos1(bus: MemBus): { reached: number; stored: Promise<boolean> | null } {
  const msg = createMessage('x/1', Buffer.from('m'), 1, false, null, 0, null);
  const reached = bus.publish('app', msg);
  return { reached, stored: bus.stored(msg) };
}

test('until the survivor adopts a dead peer\'s sessions, a QoS 1 message for them is refused as not stored; after ADOPTED it matches nothing', async () => {
  const { net, a, b, ha } = await cluster();
  net.cut.add('c');
  a.died('c');
  b.died('c');
  assert.deepEqual(ha.orphaned, ['c'], 'a, the first by node id, takes them in');
  for (const bus of [a, b]) {
    const { reached, stored } = publishQos1(bus);
    assert.equal(reached, 1, 'counted as reached (no "no subscribers")');
    assert.equal(await stored, false);
  }
  ha.adopting!();
  await settle();
  for (const bus of [a, b]) assert.deepEqual(publishQos1(bus), { reached: 0, stored: null });
});

test('ADOPTED that arrives before this node sees the death leaves no interest behind', async () => {
  const { net, a, b, ha } = await cluster();
  net.cut.add('c');
  a.died('c');
  ha.adopting!();
  await settle();
  b.died('c'); // b's detection is later than a's
  assert.deepEqual(publishQos1(b), { reached: 0, stored: null });
});

test('a QoS 0 message for a dead peer\'s sessions is not refused (it is not kept for offline sessions anyway)', async () => {
  const { net, b } = await cluster();
  net.cut.add('c');
  b.died('c');
  const msg = createMessage('x/1', Buffer.from('m'), 0, false, null, 0, null);
  assert.equal(b.publish('app', msg), 0);
  assert.equal(b.stored(msg), null);
});
