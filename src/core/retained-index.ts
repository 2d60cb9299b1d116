/**
 * The retained messages of an application, in memory: a topic tree walked with a subscription's
 * filter. This is the runtime index every node keeps; a RetainedStore (stores/) keeps them over
 * restarts and shares them between nodes.
 */
import type { Message } from './message.js';

interface Node {
  children: Map<string, Node> | null;
  msg: Message | null;
}

export class RetainedIndex {
  private readonly root: Node = { children: null, msg: null };
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Set the retained message for `msg.topic`, or clear it when the payload is empty [MQTT-3.3.1-6, MQTT-3.3.1-7]. Idempotent. */
  set(msg: Message): void {
    const levels = msg.topic.split('/');
    if (msg.payload.length === 0) {
      this.clear(levels);
      return;
    }
    let node = this.root;
    for (const level of levels) {
      node.children ??= new Map();
      let next = node.children.get(level);
      if (!next) {
        next = { children: null, msg: null };
        node.children.set(level, next);
      }
      node = next;
    }
    if (!node.msg) this.count++;
    node.msg = msg;
  }

  get(topic: string): Message | undefined {
    let node: Node | undefined = this.root;
    for (const level of topic.split('/')) {
      node = node.children?.get(level);
      if (!node) return undefined;
    }
    return node.msg ?? undefined;
  }

  /** Every retained message, $-topics included. */
  *all(): Generator<Message> {
    const stack: Node[] = [this.root];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.msg !== null) yield n.msg;
      if (n.children !== null) for (const c of n.children.values()) stack.push(c);
    }
  }

  /** Retained messages whose topic matches `filter` ($-topics excluded from leading wildcards [MQTT-4.7.2-1]). */
  match(filter: string): Message[] {
    const out: Message[] = [];
    walk(this.root, filter.split('/'), 0, out);
    return out;
  }

  private clear(levels: string[]): void {
    const path: Node[] = [this.root];
    let node = this.root;
    for (const level of levels) {
      const next = node.children?.get(level);
      if (!next) return;
      path.push(next);
      node = next;
    }
    if (!node.msg) return;
    node.msg = null;
    this.count--;
    // prune empty nodes
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i]!;
      if (n.msg || (n.children && n.children.size > 0)) break;
      path[i - 1]!.children!.delete(levels[i - 1]!);
    }
  }
}

function walk(node: Node, f: string[], i: number, out: Message[]): void {
  if (i === f.length) {
    if (node.msg) out.push(node.msg);
    return;
  }
  const level = f[i]!;
  if (level === '#') {
    // "a/#" also matches "a" [MQTT-4.7.1-1]
    if (node.msg && i > 0) out.push(node.msg);
    collectAll(node, i === 0, out);
    return;
  }
  if (!node.children) return;
  if (level === '+') {
    for (const [name, child] of node.children) {
      if (i === 0 && name.startsWith('$')) continue; // [MQTT-4.7.2-1]
      walk(child, f, i + 1, out);
    }
    return;
  }
  const child = node.children.get(level);
  if (child) walk(child, f, i + 1, out);
}

function collectAll(node: Node, root: boolean, out: Message[]): void {
  if (!node.children) return;
  for (const [name, child] of node.children) {
    if (root && name.startsWith('$')) continue; // [MQTT-4.7.2-1]
    if (child.msg) out.push(child.msg);
    collectAll(child, false, out);
  }
}
