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
import { expireToken } from '../token-expiry.js';
import type { Deadline, Due, Swept } from '../../core/clock.js';
import type { Message, QoS } from '../../core/message.js';
import type { Router } from '../../core/router.js';
import type { Application } from '../../core/application.js';
import { logRefused } from '../../core/clients.js';
import type { Client, ConnectAttempt } from '../../core/clients.js';
import { filterMatches } from '../../core/topic.js';
import type { ClientInfo } from '../../core/hooks.js';
import type { DisconnectReason } from '../../core/presence.js';
import { CLOSE_REASONS } from '../../core/session.js';
import type { CloseReason, Session, SessionLink } from '../../core/session.js';
import type { SharedGroup } from '../../core/topic-trie.js';
import type { StompContext } from './context.js';
import type { ErrorCode } from '../../errors/catalogue.js';
import { errorFrame } from './errors.js';
import type { StompErrorFrame } from './errors.js';
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

export class StompConnection implements SessionLink, ConnectionHandler, Swept {
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
  /** Why the connection ended, for presence and the connection log. */
  endReason: DisconnectReason = 'dropped';
  /** The catalogue code the broker closed the connection with, if it did (the connection log). */
  endCode: ErrorCode | undefined = undefined;
  /** Frames received while the login is being decided. */
  private readonly input: HeldInput<StompFrame>;
  /** By STOMP subscription id. */
  readonly subs = new Map<string, StompSubscription>();
  /** Unacknowledged MESSAGEs in client / client-individual mode by ack id, in send order. */
  readonly pending = new Map<string, PendingAck>();
  /** Open transactions: their frames wait for COMMIT, bounded like a session queue. */
  readonly transactions = new Map<string, { frames: StompFrame[]; bytes: number }>();
  private txFrames = 0;
  private txBytes = 0;

  /** End transaction `tx` (COMMIT, ABORT): its frames, no longer held, or undefined when it is not open. */
  closeTransaction(tx: string): StompFrame[] | undefined {
    const t = this.transactions.get(tx);
    if (t === undefined) return undefined;
    this.transactions.delete(tx);
    this.txFrames -= t.frames.length;
    this.txBytes -= t.bytes;
    this.router.budget.sub(t.bytes);
    return t.frames;
  }
  private nextMessageId = 1;
  /** Heart-beat intervals in ms after negotiation (0 = off). */
  sendEvery = 0;
  expectEvery = 0;
  /** When data last came in (ms, the broker's clock); kept only while heart-beats are expected. */
  lastReceived = 0;
  /**
   * When data last went out, kept only while heart-beats are sent: the sweep's last wake before
   * the write (Sweep.lastRun), so never later than the truth, and no clock read per frame.
   */
  private lastSent = 0;
  /**
   * This connection's deadline in the broker's sweep (core/clock.ts): the connect timeout until
   * the CONNECT frame arrives, then the expiry of its credentials (a JWT), if any.
   */
  private deadline: Deadline | null = null;

  /** No CONNECT frame within the connect timeout of the accept. */
  private static readonly connectTimeout: Due<StompConnection> = {
    due: (c) => {
      c.deadline = null;
      if (c.state === State.AwaitingConnect) c.fail('SB_ERR_CONNECT_TIMEOUT', 'the server waited for a CONNECT frame');
    },
  };

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
    const sweep = ctx.sweep;
    this.deadline = sweep.at(sweep.now() + ctx.connectTimeoutMs, StompConnection.connectTimeout, this);
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
    if (this.expectEvery !== 0) this.lastReceived = this.ctx.sweep.now();
    try {
      this.parser.push(chunk, this.onFrame, this.onHeartbeat);
    } catch (err) {
      if (err instanceof StompFrameError) this.fail(err.code, err.detail, err.receipt);
      else {
        this.ctx.logger.error({ err }, 'internal error in STOMP frame handling');
        this.fail('SB_ERR_INTERNAL', 'the server could not process the frame');
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
        this.fail('SB_ERR_EXPECTED_CONNECT', `the first frame must be CONNECT or STOMP, got ${f.command}`);
        return;
      }
      this.deadline?.cancel(); // the connect timeout
      this.deadline = null;
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
        this.fail('SB_ERR_UNKNOWN_TRANSACTION', `transaction "${tx}" was not begun`, header(f, 'receipt'));
        return;
      }
      // Held frames are memory the client controls: bounded across all its open transactions
      // (headers included) like a session queue, and charged to the broker's memory budget.
      const limits = this.ctx.limits;
      const size = frameSize(f);
      const budget = this.router.budget;
      if (this.txFrames >= limits.maxQueuedMessages || this.txBytes + size > limits.maxQueuedBytes || budget.exceeded) {
        this.fail('SB_ERR_QUOTA', `open transactions hold more than limits.maxQueuedMessages frames or limits.maxQueuedBytes bytes, or the memory budget is spent`, header(f, 'receipt'));
        return;
      }
      t.frames.push(f);
      t.bytes += size;
      this.txFrames++;
      this.txBytes += size;
      budget.add(size);
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
        this.fail('SB_ERR_SECOND_CONNECT', 'a second CONNECT frame is not allowed', header(f, 'receipt'));
        return;
      default:
        this.fail('SB_ERR_UNKNOWN_COMMAND', `unknown command ${f.command}`, header(f, 'receipt'));
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

  /** Receipts waiting for the store (deferReceipt): later ones queue behind them. */
  private receiptTail: Promise<void> | null = null;
  private receiptsPending = 0;
  /** Set by a handler that deferred its frame's RECEIPT (dispatch does not send it). */
  private deferred: StompFrame | null = null;

  /** Send `f`'s RECEIPT once `after` settles (and the receipts before it are sent); frames go on being read. */
  deferReceipt(f: StompFrame, after: Promise<void>): void {
    this.deferred = f;
    this.chainReceipt(f, after);
  }

  /** Settles once every deferred receipt is sent; null when none waits. */
  receiptsSent(): Promise<void> | null {
    return this.receiptTail;
  }

  private chainReceipt(f: StompFrame, after: Promise<void>): void {
    this.receiptsPending++;
    const prev = this.receiptTail;
    const tail: Promise<void> = (prev === null ? after : prev.then(() => after)).then(() => {
      this.receiptsPending--;
      if (this.receiptTail === tail) this.receiptTail = null;
      if (this.state === State.Connected) this.sendReceipt(f);
    });
    this.receiptTail = tail;
  }

  /** Send RECEIPT when the frame asked for one (any client frame, STOMP 1.2 "Header receipt"), after any deferred before it. */
  receipt(f: StompFrame): void {
    if (this.deferred === f) {
      this.deferred = null;
      return;
    }
    if (this.receiptsPending > 0 && header(f, 'receipt') !== undefined) this.chainReceipt(f, Promise.resolve());
    else this.sendReceipt(f);
  }

  private sendReceipt(f: StompFrame): void {
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
    const sweep = this.ctx.sweep;
    if (this.sendEvery > 0 || this.expectEvery > 0) {
      const now = sweep.now();
      this.lastReceived = now; // the CONNECT frame
      this.lastSent = now; // the CONNECTED frame
      sweep.watch(this);
    }
    const expiresAt = this.client?.info.expiresAt;
    if (expiresAt !== undefined) this.deadline = expireToken(sweep, expiresAt, this);
  }

  get app(): Application | null {
    return this.client === null ? null : this.client.app;
  }

  get info(): ClientInfo | null {
    return this.client === null ? null : this.client.info;
  }

  /**
   * Heart-beats both ways (STOMP 1.2 "Heart-beating"), checked by the broker's sweep every period
   * P while this connection has any (Sweep.periodFor keeps P at most half the heart-beat the
   * broker offers or asks for):
   * - in: a peer silent for more than twice the negotiated interval is closed with an ERROR
   *   (tolerance for a late peer); the close comes up to P after that, never before.
   * - out: an EOL is written when the next check might come too late, so the peer hears from us
   *   at least every `sendEvery` ms ("MUST send new data ... at least every <n> milliseconds").
   */
  onSweep(now: number): void {
    if (this.state !== State.Connected) return;
    if (this.expectEvery > 0 && now - this.lastReceived > this.expectEvery * 2) {
      this.endReason = 'keepalive-timeout';
      this.fail('SB_ERR_KEEPALIVE', `no frame or heart-beat for ${now - this.lastReceived} ms`);
      return;
    }
    if (this.sendEvery > 0 && now - this.lastSent > this.sendEvery - this.ctx.sweep.periodMs) {
      this.lastSent = now;
      this.conn.write(EOL);
    }
  }

  /**
   * The network connection is gone: the core detaches the session, which ends with it (STOMP
   * sessions are not persistent): unacknowledged queue messages go back to their queue.
   */
  private gone(): void {
    this.pending.clear();
    this.client?.detach(this.endReason, false, this.endCode); // the core logs 'client disconnected'
    this.session = null;
  }

  private cleanup(): void {
    for (const tx of [...this.transactions.keys()]) this.closeTransaction(tx);
    if (this.sendEvery > 0 || this.expectEvery > 0) this.ctx.sweep.unwatch(this);
    this.deadline?.cancel();
    this.deadline = null;
    this.ctx.connections.delete(this);
  }

  /** SessionLink: the broker closes this connection. */
  close(reason: CloseReason): void {
    if (this.state === State.Closed) return;
    const { code, presence } = CLOSE_REASONS[reason];
    this.endReason = presence;
    this.client?.detach(presence, false, code); // now: a takeover moves the session on at once
    this.fail(code);
  }

  shutdown(): void {
    this.close('shutdown');
  }

  /**
   * Send the ERROR frame of `code` (errors.ts: the catalogue's `message`, `detail` as body, else
   * the catalogue's text; receipt-id if asked; `extra` headers) and close.
   */
  fail(code: ErrorCode, detail?: string, receiptId?: string, extra?: ReadonlyArray<[string, string]>): void {
    if (this.state === State.Closed) return;
    const frame = errorFrame(code, detail, receiptId, extra);
    this.ctx.logger.info({ clientId: this.clientId, remoteAddress: this.conn.remoteAddress, code }, `STOMP error: ${frame.body.toString('utf8').trimEnd()}`);
    // An ERROR ends the connection: a protocol error unless the broker closed it for a reason of its own (close).
    if (this.endReason === 'dropped') this.endReason = 'protocol-error';
    this.sendError(code, frame);
  }

  /** Refuse the CONNECT frame: logged as 'client refused' (core/clients.ts ConnectionLog), then as fail. */
  refuse(who: ConnectAttempt, code: ErrorCode, detail: string, receiptId?: string, extra?: ReadonlyArray<[string, string]>): void {
    if (this.state === State.Closed) return;
    logRefused(this.ctx.logger, who, { code, detail });
    this.sendError(code, errorFrame(code, detail, receiptId, extra));
  }

  private sendError(code: ErrorCode, frame: StompErrorFrame): void {
    this.ctx.counters.protocolErrors++;
    this.endCode = code;
    this.sendFrame('ERROR', frame.headers, frame.body);
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
    if (this.sendEvery !== 0) this.lastSent = this.ctx.sweep.lastRun;
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
    const slow = this.conn.backlog > this.ctx.limits.slowConsumerBytes;
    if (slow && group !== null) {
      this.router.redeliver(group, msg, session, false); // another consumer of the queue takes it
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
    for (const sub of this.subs.values()) {
      if (sub.group !== null || !filterMatches(sub.filter, msg.topic)) continue;
      // A slow consumer loses what it would not acknowledge anyway (ack:auto, like MQTT QoS 0);
      // what it acknowledges is bounded by its window and session queue (like MQTT QoS 1).
      if (slow && sub.ack === 'auto') this.router.reportDrop(session, msg, 'slow-consumer');
      else this.send(msg, sub, null);
    }
  }

  private subscriptionFor(group: string, filter: string): StompSubscription | undefined {
    for (const sub of this.subs.values()) if (sub.group === group && sub.filter === filter) return sub;
    return undefined;
  }

  /** Send now, or wait in the session queue while the acknowledgement window is full. */
  private send(msg: Message, sub: StompSubscription, group: SharedGroup<Session> | null): void {
    const session = this.session!;
    if (sub.ack !== 'auto' && (session.inflightCount >= this.ctx.window || session.queued > 0)) {
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

/** What a held frame costs: its body and header bytes (UTF-16 units, near enough). */
function frameSize(f: StompFrame): number {
  let n = f.body.length + f.command.length;
  for (const [k, v] of f.headers) n += k.length + v.length + 2;
  return n;
}
