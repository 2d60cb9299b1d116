/**
 * One STOMP 1.0/1.1/1.2 connection: frames in -> core calls; core deliveries -> MESSAGE frames.
 * Frame handlers live in handlers/<frame>.ts; this file owns state, heart-beats, acks and output.
 *
 * Delivery and acknowledgement: every subscription is a core subscription at QoS 1. With
 * `ack:auto` a MESSAGE is done once written. With `client` / `client-individual` it stays
 * pending until ACKed (STOMP 1.2 section "SUBSCRIBE ack Header"); at most `window` messages
 * are pending per connection, the rest wait in the session queue. Pending messages from a
 * queue go back to the queue on NACK (counted) or when the connection ends (not counted).
 */
import { randomBytes } from 'node:crypto';
import type { Connection, ConnectionHandler } from '../../transports/connection.js';
import { HeldInput } from '../held-input.js';
import { TokenExpiry } from '../token-expiry.js';
import type { Message, QoS } from '../../core/message.js';
import type { Router } from '../../core/router.js';
import type { Application } from '../../core/application.js';
import type { Client } from '../../core/clients.js';
import { filterMatches } from '../../core/topic.js';
import type { ClientInfo } from '../../core/hooks.js';
import type { DisconnectReason } from '../../core/presence.js';
import { CLOSE_REASONS } from '../../core/session.js';
import type { CloseReason, Session, SessionLink } from '../../core/session.js';
import type { SharedGroup } from '../../core/topic-trie.js';
import type { StompContext } from './context.js';
import { ERRORS } from '../../errors/catalogue.js';
// Headers a MESSAGE frame sets itself, in any case/whitespace/colon variant (core/headers.ts).
import { isStompMessageHeader as isReserved } from '../../core/headers.js';
import { StompParser, StompFrameError } from './parser.js';
import { encodeFrame } from './encoder.js';
import type { StompFrame } from './frame.js';
import { header } from './frame.js';
import { destinationOf } from './destinations.js';
import { handleConnect } from './handlers/connect.js';
import { handleSend } from './handlers/send.js';
import { handleSubscribe } from './handlers/subscribe.js';
import { handleUnsubscribe } from './handlers/unsubscribe.js';
import { handleAck } from './handlers/ack.js';
import { handleBegin, handleCommit, handleAbort } from './handlers/transaction.js';
import { handleDisconnect } from './handlers/disconnect.js';

export type { StompVersion } from './frame.js';
import type { StompVersion } from './frame.js';
export type AckMode = 'auto' | 'client' | 'client-individual';

/**
 * A STOMP subscription and its core subscription (`raw` is the core key). Deliveries are mapped
 * back to STOMP subscriptions here, by filter or queue: nothing STOMP rides in core fields.
 */
export interface StompSubscription {
  id: string;
  /** Core subscription key (raw filter) in the session. */
  raw: string;
  /** The filter it matches topics with, and its queue (shared group) if any. */
  filter: string;
  group: string | null;
  destination: string;
  ack: AckMode;
}

/** An unacknowledged MESSAGE: its STOMP subscription and the session's delivery id. */
export interface PendingAck {
  sub: StompSubscription;
  delivery: number;
}

const enum State {
  AwaitingConnect,
  Connected,
  Closed,
}

export class StompConnection implements SessionLink, ConnectionHandler {
  private state = State.AwaitingConnect;
  readonly parser: StompParser;
  version: StompVersion = '1.2';
  sessionId = randomBytes(6).toString('hex');
  clientId = '';
  /** The core's side of this connection (core/clients.ts), once CONNECT is accepted. */
  client: Client | null = null;
  session: Session | null = null;
  /** The application's router, chosen at CONNECT (one namespace per application). */
  router: Router;
  endReason: DisconnectReason = 'dropped';
  /** Frames received while the login is being decided. */
  private readonly input: HeldInput<StompFrame>;
  /** By STOMP subscription id. */
  readonly subs = new Map<string, StompSubscription>();
  /** Unacknowledged MESSAGEs in client / client-individual mode by ack id, in send order. */
  readonly pending = new Map<string, PendingAck>();
  /** Open transactions: their frames wait for COMMIT, bounded like a session queue. */
  readonly transactions = new Map<string, { frames: StompFrame[]; bytes: number }>();
  private nextMessageId = 1;
  /** Heart-beat intervals in ms after negotiation (0 = off). */
  sendEvery = 0;
  expectEvery = 0;
  lastReceived = Date.now();
  private lastSent = Date.now();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  /** Closes the connection when its credentials (a JWT) expire. */
  private tokenExpiry: TokenExpiry | null = null;

  constructor(
    readonly ctx: StompContext,
    readonly conn: Connection,
  ) {
    this.parser = new StompParser(ctx.stomp);
    this.router = ctx.router;
    this.input = new HeldInput(conn, this.onFrame);
    // One STOMP frame per WebSocket message: browser clients expect whole frames.
    if (conn.transport === 'ws' || conn.transport === 'wss') conn.coalesce = false;
    conn.setHandler(this);
    ctx.connections.add(this);
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.state === State.AwaitingConnect) this.fail('no CONNECT frame in time', 'the server waited for a CONNECT frame');
    }, ctx.connectTimeoutMs);
    this.connectTimer.unref();
  }

  get connected(): boolean {
    return this.state === State.Connected;
  }

  /** Not closed (may still be waiting for its login). */
  get open(): boolean {
    return this.state !== State.Closed;
  }

  holdFrames(): void {
    this.input.hold();
  }

  releaseFrames(): void {
    this.input.release();
  }

  // ---- inbound ---------------------------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.state === State.Closed) return;
    this.lastReceived = Date.now();
    try {
      this.parser.push(chunk, this.onFrame, this.onHeartbeat);
    } catch (err) {
      if (err instanceof StompFrameError) this.fail(err.message, err.detail, err.receipt);
      else {
        this.ctx.logger.error({ err }, 'internal error in STOMP frame handling');
        this.fail('internal error', 'the server could not process the frame');
      }
    }
  }

  private readonly onHeartbeat = (): void => {
    /* lastReceived already updated */
  };

  private readonly onFrame = (f: StompFrame): void => {
    if (this.state === State.Closed) return;
    if (this.input.offer(f)) return;
    if (this.state === State.AwaitingConnect) {
      if (f.command !== 'CONNECT' && f.command !== 'STOMP') {
        this.fail('expected CONNECT', `the first frame must be CONNECT or STOMP, got ${f.command}`);
        return;
      }
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      handleConnect(this, f);
      return;
    }
    this.dispatch(f, false);
  };

  /**
   * Run a frame; `inTx` is true when COMMIT replays a transaction's frames. A handler waiting
   * for an asynchronous hook returns a Promise: later frames, and this frame's RECEIPT, wait.
   */
  dispatch(f: StompFrame, inTx: boolean): void | Promise<void> {
    const tx = inTx ? undefined : header(f, 'transaction');
    if (tx !== undefined && (f.command === 'SEND' || f.command === 'ACK' || f.command === 'NACK')) {
      // Transactional frames wait for COMMIT (STOMP 1.2 "BEGIN").
      const t = this.transactions.get(tx);
      if (!t) {
        this.fail('unknown transaction', `transaction "${tx}" was not begun`, header(f, 'receipt'));
        return;
      }
      const limits = this.ctx.limits;
      if (t.frames.length >= limits.maxQueuedMessages || t.bytes + f.body.length > limits.maxQueuedBytes) {
        this.fail(ERRORS.SB_ERR_QUOTA.stomp, `transaction "${tx}" holds more than limits.maxQueuedMessages frames or limits.maxQueuedBytes bytes`, header(f, 'receipt'));
        return;
      }
      t.frames.push(f);
      t.bytes += f.body.length;
      this.receipt(f);
      return;
    }
    let pending: void | Promise<void> = undefined;
    switch (f.command) {
      case 'SEND':
        pending = handleSend(this, f);
        break;
      case 'SUBSCRIBE':
        pending = handleSubscribe(this, f);
        break;
      case 'UNSUBSCRIBE':
        pending = handleUnsubscribe(this, f);
        break;
      case 'ACK':
        handleAck(this, f, true);
        break;
      case 'NACK':
        handleAck(this, f, false);
        break;
      case 'BEGIN':
        handleBegin(this, f);
        break;
      case 'COMMIT':
        pending = handleCommit(this, f);
        break;
      case 'ABORT':
        handleAbort(this, f);
        break;
      case 'DISCONNECT':
        handleDisconnect(this, f);
        return;
      case 'CONNECT':
      case 'STOMP':
        this.fail('already connected', 'a second CONNECT frame is not allowed', header(f, 'receipt'));
        return;
      default:
        this.fail('unknown command', `unknown command ${f.command}`, header(f, 'receipt'));
        return;
    }
    if (pending instanceof Promise) {
      if (inTx) return pending; // COMMIT runs the next frame after this one
      this.holdFrames();
      pending
        .then(() => {
          if (this.state === State.Connected) this.receipt(f);
        })
        .finally(() => this.releaseFrames());
      return;
    }
    if (!inTx && this.state === State.Connected) this.receipt(f);
  }

  /** Send RECEIPT when the frame asked for one (any client frame, STOMP 1.2 "Header receipt"). */
  receipt(f: StompFrame): void {
    const r = header(f, 'receipt');
    if (r !== undefined && this.state !== State.Closed) this.sendFrame('RECEIPT', [['receipt-id', r]]);
  }

  onClose(): void {
    this.ctx.closed(this.conn.remoteAddress);
    if (this.state !== State.Closed) {
      this.state = State.Closed;
      this.gone();
    }
    this.cleanup();
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** The core accepted the client (core/clients.ts): from here on this connection holds its session. */
  bind(client: Client): void {
    this.client = client;
    this.session = client.session;
    this.router = client.app.router;
    this.clientId = client.info.clientId;
  }

  markConnected(): void {
    this.state = State.Connected;
    if (this.sendEvery > 0 || this.expectEvery > 0) this.armHeartbeats();
    const expiresAt = this.client?.info.expiresAt;
    if (expiresAt !== undefined) this.tokenExpiry = new TokenExpiry(expiresAt, this);
  }

  get app(): Application | null {
    return this.client === null ? null : this.client.app;
  }

  get info(): ClientInfo | null {
    return this.client === null ? null : this.client.info;
  }

  private armHeartbeats(): void {
    const tick = Math.max(100, Math.min(this.sendEvery || Infinity, this.expectEvery || Infinity) / 2);
    this.heartbeatTimer = setInterval(() => {
      if (this.state !== State.Connected) return;
      const now = Date.now();
      // Tolerate a late peer: close after twice the negotiated interval of silence.
      if (this.expectEvery > 0 && now - this.lastReceived > this.expectEvery * 2) {
        this.endReason = 'keepalive-timeout';
        this.fail('heart-beat timeout', `no frame or heart-beat for ${now - this.lastReceived} ms`);
        return;
      }
      if (this.sendEvery > 0 && now - this.lastSent >= this.sendEvery) {
        this.lastSent = now;
        this.conn.write(EOL);
      }
    }, tick);
    this.heartbeatTimer.unref();
  }

  /**
   * The network connection is gone: the core detaches the session, which ends with it (STOMP
   * sessions are not persistent): unacknowledged queue messages go back to their queue.
   */
  private gone(): void {
    this.pending.clear();
    this.client?.detach(this.endReason, false);
    this.session = null;
  }

  private cleanup(): void {
    this.tokenExpiry?.cancel();
    this.tokenExpiry = null;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.heartbeatTimer = null;
    this.connectTimer = null;
    this.ctx.connections.delete(this);
  }

  /** SessionLink: the broker closes this connection. */
  close(reason: CloseReason): void {
    if (this.state === State.Closed) return;
    const { code, presence } = CLOSE_REASONS[reason];
    this.endReason = presence;
    this.client?.detach(presence, false); // now: a takeover moves the session on at once
    this.fail(ERRORS[code].stomp, ERRORS[code].text);
  }

  shutdown(): void {
    this.close('shutdown');
  }

  /** Send an ERROR frame (message header, explanatory body, receipt-id if asked) and close. */
  fail(message: string, detail: string, receiptId?: string): void {
    if (this.state === State.Closed) return;
    this.ctx.counters.protocolErrors++;
    this.ctx.logger.info({ clientId: this.clientId, remote: this.conn.remoteAddress }, `STOMP error: ${message}: ${detail}`);
    const headers: Array<[string, string]> = [['message', message], ['content-type', 'text/plain']];
    if (receiptId !== undefined) headers.push(['receipt-id', receiptId]);
    this.sendFrame('ERROR', headers, Buffer.from(detail + '\n'));
    this.end();
  }

  /** Flush and close. */
  end(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.gone();
    this.conn.end();
    this.cleanup();
  }

  // ---- outbound --------------------------------------------------------------------------

  sendFrame(command: string, headers: Array<[string, string]>, body?: Buffer): void {
    if (this.conn.closed) return;
    this.lastSent = Date.now();
    this.conn.write(encodeFrame(command, headers, body, { version: this.version }));
  }

  /**
   * SessionLink: a routed message. A queue message goes to this connection's subscription to
   * that queue; any other to each of its topic subscriptions whose filter matches (STOMP sends
   * one MESSAGE per subscription).
   */
  deliver(msg: Message, _qos: QoS, _retain: boolean, _subscriptionIds: readonly number[] | null, group: SharedGroup<Session> | null): void {
    const session = this.session;
    if (session === null || this.state !== State.Connected) return;
    if (this.conn.backlog > this.ctx.limits.slowConsumerBytes) {
      if (group !== null) this.router.redeliver(group, msg, session, false);
      else this.router.reportDrop(session, msg, 'slow-consumer');
      return;
    }
    if (msg.expiresAt !== 0 && msg.expiresAt <= this.router.now()) {
      this.router.reportDrop(session, msg, 'expired');
      return;
    }
    if (group !== null) {
      const sub = this.subscriptionFor(group.name, group.filter);
      if (sub === undefined) this.client!.giveBack(group, msg);
      else this.send(msg, sub, group);
      return;
    }
    for (const sub of this.subs.values()) if (sub.group === null && filterMatches(sub.filter, msg.topic)) this.send(msg, sub, null);
  }

  private subscriptionFor(group: string, filter: string): StompSubscription | undefined {
    for (const sub of this.subs.values()) if (sub.group === group && sub.filter === filter) return sub;
    return undefined;
  }

  /** Send now, or wait in the session queue while the acknowledgement window is full. */
  private send(msg: Message, sub: StompSubscription, group: SharedGroup<Session> | null): void {
    const session = this.session!;
    if (sub.ack !== 'auto' && session.inflightCount >= this.ctx.window) {
      session.enqueue({ msg, qos: 1, retain: false, subscriptionIds: null, group, via: sub.raw });
      return;
    }
    this.writeMessage(msg, sub, group);
  }

  /** After ACK/NACK: send what waited for the window. */
  pump(): void {
    const session = this.session;
    if (session === null) return;
    const now = this.router.now();
    while (session.inflightCount < this.ctx.window) {
      const d = session.dequeue(now);
      if (!d) return;
      const sub = d.via === undefined ? undefined : this.subscriptionByRaw(d.via);
      if (sub === undefined) this.client!.giveBack(d.group, d.msg);
      else this.writeMessage(d.msg, sub, d.group);
    }
  }

  private subscriptionByRaw(raw: string): StompSubscription | undefined {
    for (const sub of this.subs.values()) if (sub.raw === raw) return sub;
    return undefined;
  }

  /** Write one MESSAGE to `sub` (a retained message for a new subscription comes here directly). */
  writeMessage(msg: Message, sub: StompSubscription, group: SharedGroup<Session> | null): void {
    const messageId = `${this.sessionId}-${this.nextMessageId++}`;
    const headers: Array<[string, string]> = [
      ['subscription', sub.id],
      ['message-id', messageId],
      ['destination', destinationOf(msg.topic)],
    ];
    if (sub.ack !== 'auto') {
      // Acknowledged later: in flight in the session, under the session's delivery id.
      const delivery = this.session!.begin(msg, 1, false, null, group);
      if (delivery === 0) {
        this.session!.enqueue({ msg, qos: 1, retain: false, subscriptionIds: null, group, via: sub.raw });
        return;
      }
      if (this.version === '1.2') headers.push(['ack', messageId]);
      this.pending.set(messageId, { sub, delivery });
    }
    // The sender, stamped by the broker (never taken from the client).
    if (msg.sender !== null) headers.push(['from', msg.sender.clientId]);
    const meta = msg.meta;
    if (meta !== null) {
      if (meta.contentType !== undefined) headers.push(['content-type', meta.contentType]);
      if (meta.responseTopic !== undefined) headers.push(['reply-to', destinationOf(meta.responseTopic)]);
      if (meta.correlationData !== undefined) headers.push(['correlation-id', meta.correlationData.toString('utf8')]);
      if (meta.userProperties !== undefined) {
        for (const [k, v] of meta.userProperties) if (!isReserved(k)) headers.push([k, v]);
      }
    }
    this.sendFrame('MESSAGE', headers, msg.payload);
  }
}

const EOL = Buffer.from('\n');
