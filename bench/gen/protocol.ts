/** Messages between the bench process and its generator processes (IPC, structured clone). */

export type Transport = 'tcp' | 'ws';

export interface ClientSpec {
  clientId: string;
  /** Subscribe to this filter after CONNACK. */
  filter?: string;
  qos: 0 | 1;
  /** Source address (127.0.0.x) to get past one address's ephemeral ports. */
  localAddress?: string;
}

export interface PubSpec {
  /** Index of the publishing connection in this generator. */
  conn: number;
  topic: string;
  size: number;
  qos: 0 | 1;
  /** QoS 1: most PUBLISHes without PUBACK. */
  window: number;
  /** Most messages published and not yet seen by the slowest of `subs` (0: no limit). */
  limit: number;
  /** Connections (in this generator) that receive this publisher's messages. */
  subs: number[];
  /** Messages per second; 0 publishes as fast as flow control allows. */
  rate: number;
}

export type Request =
  | { op: 'open'; clients: ClientSpec[]; transport: Transport; port: number; path: string; concurrency: number; timeoutMs: number }
  | { op: 'flows'; pubs: PubSpec[] }
  | { op: 'run'; warmMs: number; windowMs: number; quietMs: number; maxDrainMs: number; latency: boolean }
  | { op: 'close' };

export interface OpenResult {
  /** Index of the first connection opened by this request. */
  base: number;
  opened: number;
  failed: number;
  firstError: string | null;
  ms: number;
}

export interface RunResult {
  /** PUBLISH packets received by this generator's connections during the window. */
  windowDeliveries: number;
  windowMs: number;
  sent: number;
  /** Deliveries due for what was sent (sent x subscribers per publisher). */
  expected: number;
  received: number;
  /** From the end of publishing to the last delivery. */
  drainMs: number;
  /** The drain hit maxDrainMs while deliveries were still arriving (not lost: late). */
  drainTimedOut: boolean;
  /** This generator's CPU time during the window. */
  cpuMs: number;
  /** Socket reads during the window. */
  reads: number;
  /** HDR histogram (microseconds) of messages sent during the window, base64. */
  histogram: string | null;
}

export type Reply = { id: number; ok: true; result: OpenResult | RunResult | null } | { id: number; ok: false; error: string };

export type GenEvent = { ev: 'window-start' | 'window-end' };
