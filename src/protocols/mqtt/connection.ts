/**
 * One MQTT network connection: the state machine that turns decoded packets into core calls
 * and core deliveries into packets. Inbound packets are dispatched to handlers/<packet>.ts;
 * this file owns connection state, keepalive, the outbound in-flight window and encoding.
 *
 * States: awaiting CONNECT -> connected -> closed. Before CONNECT only CONNECT is accepted
 * [MQTT-3.1.0-1]; a second CONNECT is a protocol error [MQTT-3.1.0-2].
 */
import type { Connection, ConnectionHandler } from '../../transports/connection.js';
import { HeldInput } from '../held-input.js';
import { expireToken } from '../token-expiry.js';
import type { Deadline, Due, Swept } from '../../core/clock.js';
import type { Message, QoS } from '../../core/message.js';
import type { Router } from '../../core/router.js';
import type { Application } from '../../core/application.js';
import { logRefused } from '../../core/clients.js';
import type { Client } from '../../core/clients.js';
import type { ClientInfo } from '../../core/hooks.js';
import type { DisconnectReason } from '../../core/presence.js';
import { CLOSE_REASONS } from '../../core/session.js';
import type { CloseReason, Session, SessionLink } from '../../core/session.js';
import type { ErrorCode } from '../../errors/catalogue.js';
import { isUnsafeUserProperty, withoutNames } from '../../core/headers.js';
import type { SharedGroup } from '../../core/topic-trie.js';
import { MqttDecoder } from './codec/decoder.js';
import { encodePacket, encodePublish, publishAt, publishSize } from './codec/encoder.js';
import { DecodeError, PacketType } from './codec/packets.js';
import type { Packet, ProtocolLevel, Properties } from './codec/packets.js';
import type { MqttContext } from './context.js';
import { connackCode, decodeErrorCode, disconnectReason } from './errors.js';
import { silentTooLong } from './keepalive.js';
import { handleConnect } from './handlers/connect.js';
import { handlePublish } from './handlers/publish.js';
import { handlePuback } from './handlers/puback.js';
import { handlePubrec } from './handlers/pubrec.js';
import { handlePubrel } from './handlers/pubrel.js';
import { handlePubcomp } from './handlers/pubcomp.js';
import { handleSubscribe } from './handlers/subscribe.js';
import { handleUnsubscribe } from './handlers/unsubscribe.js';
import { handleDisconnect } from './handlers/disconnect.js';
import { handleAuth } from './handlers/auth.js';

const enum State {
  AwaitingConnect,
  Connected,
  Closed,
}

const NO_PROPS: Properties = Object.freeze({}) as Properties;

/** Largest QoS 0 PUBLISH written in place in a connection's output; larger ones are Buffers shared by every subscriber. */
const IN_PLACE = 4096;

export class MqttConnection implements SessionLink, ConnectionHandler, Swept {
  private state = State.AwaitingConnect;
  readonly decoder: MqttDecoder;
  level: ProtocolLevel = 4;
  clientId = '';
  /** The core's side of this connection (core/clients.ts), once CONNECT is accepted. */
  client: Client | null = null;
  /** The client's session while this connection holds it. */
  session: Session | null = null;
  /** The application's router, chosen at CONNECT (one namespace per application). */
  router: Router;
  /** Why the connection ended, for presence and the connection log. */
  endReason: DisconnectReason = 'dropped';
  /** The catalogue code the broker closed the connection with, if it did (the connection log). */
  endCode: ErrorCode | undefined = undefined;
  /** Packets received while a login or hook decision is pending; made on first hold. */
  private input: HeldInput<Packet> | null = null;
  /** Outbound QoS 1/2 window: min(client Receive Maximum, config maxInflight). */
  sendWindow = 65535;
  /** Largest packet the client accepts (v5 Maximum Packet Size); 0 = no limit. */
  clientMaxPacket = 0;
  keepAlive = 0;
  /** When the last packet arrived (ms, the broker's clock); kept only while a keepalive is set (keepalive.ts). */
  lastActivity = 0;
  /** v5 Request Problem Information: send reason strings / user properties on errors. */
  problemInfo = true;
  /** Inbound topic aliases (client -> server) [MQTT-3.3.2-8..12]; allocated on first use. */
  private _aliases: Map<number, string> | null = null;
  get aliases(): Map<number, string> {
    return (this._aliases ??= new Map());
  }
  /** Outbound topic aliases (server -> client). */
  outAliases: Map<string, number> | null = null;
  outAliasMax = 0;
  /** A DISCONNECT (normal) was received: do not publish the will [MQTT-3.1.2-10]. */
  cleanDisconnect = false;
  /**
   * This connection's deadline in the broker's sweep (core/clock.ts): the connect timeout until
   * the CONNECT packet arrives, then the expiry of its credentials (a JWT), if any. One field,
   * no timer and no closure per connection.
   */
  private deadline: Deadline | null = null;

  /** No CONNECT packet within mqtt.connectTimeoutMs of the accept. */
  private static readonly connectTimeout: Due<MqttConnection> = {
    due: (c) => {
      c.deadline = null;
      if (c.state === State.AwaitingConnect) c.closeWith('SB_ERR_CONNECT_TIMEOUT', 'no CONNECT within the connect timeout');
    },
  };

  constructor(
    readonly ctx: MqttContext,
    readonly conn: Connection,
  ) {
    this.decoder = new MqttDecoder({ maxPacketSize: ctx.mqtt.maxPacketSize });
    this.router = ctx.router;
    conn.setHandler(this);
    ctx.connections.add(this);
    ctx.counters.connectionsAccepted++;
    const sweep = ctx.sweep;
    this.deadline = sweep.at(sweep.now() + ctx.mqtt.connectTimeoutMs, MqttConnection.connectTimeout, this);
  }

  get connected(): boolean {
    return this.state === State.Connected;
  }

  get closed(): boolean {
    return this.state === State.Closed;
  }

  /** Queue incoming packets until releasePackets (asynchronous login or hook). */
  holdPackets(): void {
    (this.input ??= new HeldInput(this.conn, (p) => this.onPacket(p))).hold();
  }

  releasePackets(): void {
    this.input?.release();
  }

  get isV5(): boolean {
    return this.level === 5;
  }

  /** Applications stamp the sender on every delivery (user property `from`); development mode does not. */
  get stampFrom(): boolean {
    return this.app !== null && !this.app.open;
  }

  // ---- inbound ---------------------------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.state === State.Closed) return;
    if (this.keepAlive !== 0) this.lastActivity = this.ctx.sweep.now();
    try {
      this.decoder.push(chunk, this.onPacket, this);
    } catch (err) {
      this.onDecodeError(err);
    }
  }

  private onPacket(p: Packet): void {
    if (this.state === State.Closed) return;
    if (this.input !== null && this.input.offer(p)) return;
    this.ctx.counters.packetsIn++;
    if (this.state === State.AwaitingConnect) {
      if (p.type !== PacketType.CONNECT) {
        this.protocolError('SB_ERR_EXPECTED_CONNECT', 'first packet was not CONNECT'); // [MQTT-3.1.0-1]
        return;
      }
      this.deadline?.cancel(); // the connect timeout
      this.deadline = null;
      this.level = p.protocolLevel;
      handleConnect(this, p);
      return;
    }
    switch (p.type) {
      case PacketType.PUBLISH:
        handlePublish(this, p);
        return;
      case PacketType.PUBACK:
        handlePuback(this, p);
        return;
      case PacketType.PUBREC:
        handlePubrec(this, p);
        return;
      case PacketType.PUBREL:
        handlePubrel(this, p);
        return;
      case PacketType.PUBCOMP:
        handlePubcomp(this, p);
        return;
      case PacketType.SUBSCRIBE:
        handleSubscribe(this, p);
        return;
      case PacketType.UNSUBSCRIBE:
        handleUnsubscribe(this, p);
        return;
      case PacketType.PINGREQ:
        this.send({ type: PacketType.PINGRESP }); // [MQTT-3.12.4-1]
        return;
      case PacketType.DISCONNECT:
        handleDisconnect(this, p);
        return;
      case PacketType.AUTH:
        handleAuth(this, p);
        return;
      case PacketType.CONNECT:
        this.protocolError('SB_ERR_SECOND_CONNECT', 'second CONNECT'); // [MQTT-3.1.0-2]
        return;
      default:
        // CONNACK, SUBACK, UNSUBACK, PINGRESP are server-to-client only.
        this.protocolError('SB_ERR_PROTOCOL', `unexpected packet type ${p.type}`);
    }
  }

  private onDecodeError(err: unknown): void {
    if (!(err instanceof DecodeError)) {
      this.ctx.logger.error({ err, clientId: this.clientId }, 'internal error while decoding');
      this.protocolError('SB_ERR_INTERNAL', 'internal error');
      return;
    }
    // The decoder decided on the wire; errors.ts gives its verdict a catalogue code.
    const { code, silent } = decodeErrorCode(err);
    if (this.state === State.AwaitingConnect) {
      this.connectError(code, err);
      return;
    }
    this.protocolError(code, err.message, err.rule, silent);
  }

  /**
   * A bad CONNECT: an unsupported protocol level gets CONNACK 0x84 (return code 1 in the 3.1.1
   * format for levels other than 5) [MQTT-3.1.2-2]; anything else is closed without an answer.
   */
  private connectError(code: ErrorCode, err: DecodeError): void {
    const level = this.decoder.connectLevel ?? 0;
    this.ctx.counters.protocolErrors++;
    if (code === 'SB_ERR_UNSUPPORTED_VERSION') {
      // Answered with a CONNACK: a refused CONNECT (core/clients.ts ConnectionLog).
      const conn = this.conn;
      const who = { clientId: '', protocol: 'mqtt', transport: conn.transport, remoteAddress: conn.remoteAddress } as const;
      logRefused(this.ctx.logger, level === 0 ? who : { ...who, protocolVersion: level }, { code, detail: err.message });
      this.level = level === 5 ? 5 : 4;
      this.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: connackCode(code, this.level), properties: NO_PROPS });
      this.end();
      return;
    }
    this.ctx.logger.info({ remoteAddress: this.conn.remoteAddress, code, reason: err.reason, rule: err.rule }, `bad CONNECT: ${err.message}`);
    this.destroy(err.message);
  }

  onClose(): void {
    this.ctx.closed(this.conn.remoteAddress);
    if (this.state === State.Closed) {
      this.cleanup();
      return;
    }
    this.state = State.Closed;
    this.gone();
    this.cleanup();
  }

  // ---- session lifecycle -----------------------------------------------------------------

  /** The core accepted the client (core/clients.ts): from here on this connection holds its session. */
  bind(client: Client): void {
    this.client = client;
    this.session = client.session;
    this.router = client.app.router;
  }

  /** Called by handleConnect once the CONNACK is sent. */
  markConnected(): void {
    this.state = State.Connected;
    const sweep = this.ctx.sweep;
    if (this.keepAlive !== 0) {
      // Counted from here: the CONNECT was the last packet (a login may have taken a while).
      this.lastActivity = sweep.now();
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

  /** The network connection ended (any cause): the core publishes the will, detaches the session and logs. */
  private gone(): void {
    this.client?.detach(this.endReason, !this.cleanDisconnect, this.endCode);
    this.session = null;
  }

  private cleanup(): void {
    if (this.keepAlive !== 0) this.ctx.sweep.unwatch(this);
    this.deadline?.cancel();
    this.deadline = null;
    this.ctx.connections.delete(this);
  }

  /** Close after 1.5 x keepalive without a packet [MQTT-3.1.2-24] (the sweep calls it; keepalive.ts). */
  onSweep(now: number): void {
    if (this.state !== State.Connected || !silentTooLong(now, this.lastActivity, this.keepAlive)) return;
    this.endReason = 'keepalive-timeout'; // logged by the core as the client disconnects
    this.disconnectWith('SB_ERR_KEEPALIVE');
  }

  /** SessionLink: the broker closes this connection. */
  close(reason: CloseReason): void {
    if (this.state === State.Closed) return;
    const { code, presence } = CLOSE_REASONS[reason];
    this.endReason = presence;
    this.endCode = code;
    // Now, not when the socket is gone: on a takeover the new connection sets its own will next.
    this.client?.detach(presence, !this.cleanDisconnect, code);
    this.session = null;
    this.disconnectWith(code);
  }

  /** Graceful shutdown: DISCONNECT 0x8B to v5 clients, flush, close. */
  shutdown(): void {
    if (this.state === State.AwaitingConnect) {
      this.closeWith('SB_ERR_SHUTTING_DOWN', 'shutdown before CONNECT');
      return;
    }
    this.close('shutdown');
  }

  /**
   * End the connection for `code`: connected, a DISCONNECT with its reason (v5 only, errors.ts)
   * and a flushed close; before CONNACK there is nobody to answer, so a plain close. The will is
   * published unless the client disconnected cleanly.
   */
  disconnectWith(code: ErrorCode, reasonString?: string): void {
    if (this.state === State.Closed) return;
    this.endCode = code;
    if (this.state !== State.Connected) {
      this.drop();
      return;
    }
    const reason = disconnectReason(code, this.level);
    if (reason !== null) {
      const properties: Properties = reasonString && this.problemInfo ? { reasonString } : NO_PROPS;
      this.send({ type: PacketType.DISCONNECT, reasonCode: reason, properties });
    }
    this.end();
  }

  /**
   * A protocol violation: log once, DISCONNECT with the code's reason (v5), close
   * [MQTT-4.13.1-1]. `silent`: close without a DISCONNECT (decoder verdicts the data expects so).
   */
  protocolError(code: ErrorCode, message: string, rule?: string, silent = false): void {
    if (this.state === State.Closed) return;
    this.ctx.counters.protocolErrors++;
    this.endReason = 'protocol-error';
    this.endCode = code;
    this.ctx.logger.info({ clientId: this.clientId, remoteAddress: this.conn.remoteAddress, code, rule }, `protocol error: ${message}`);
    if (silent) {
      this.drop();
      return;
    }
    this.disconnectWith(code);
  }

  /** The broker ends the connection for `code` (not the client's protocol error): logged, answered as disconnectWith. */
  closeWith(code: ErrorCode, why: string): void {
    if (this.state === State.Closed) return;
    this.ctx.logger.debug({ clientId: this.clientId, remoteAddress: this.conn.remoteAddress, code }, `closing: ${why}`);
    this.disconnectWith(code);
  }

  /** Flush what was written and close (after a refused CONNACK, or a DISCONNECT). */
  end(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.gone();
    this.conn.end();
    this.cleanup();
  }

  destroy(why: string): void {
    if (this.state === State.Closed) return;
    this.ctx.logger.debug({ clientId: this.clientId, remoteAddress: this.conn.remoteAddress }, `closing: ${why}`);
    this.drop();
  }

  /** Close at once, without an answer (nothing flushed). */
  private drop(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.gone();
    this.conn.destroy();
    this.cleanup();
  }

  // ---- outbound --------------------------------------------------------------------------

  /** The last acknowledgement still waiting for the store, and how many wait (ackInOrder). */
  private ackTail: Promise<void> | null = null;
  private acksPending = 0;

  get acksWaiting(): boolean {
    return this.acksPending > 0;
  }

  /**
   * Run `send` with the answer once `wait` settles (null: at once), after every acknowledgement
   * queued before it: PUBACK and PUBREC keep the order of the PUBLISH packets [MQTT-4.6.0-2]
   * while stored messages wait for their commit.
   */
  ackInOrder<T>(wait: Promise<T> | null, send: (a: T) => void): void {
    this.acksPending++;
    const prev = this.ackTail;
    const mine: Promise<T | undefined> = wait ?? Promise.resolve(undefined);
    const tail: Promise<void> = (prev === null ? mine : prev.then(() => mine)).then((a) => {
      this.acksPending--;
      if (this.ackTail === tail) this.ackTail = null;
      send(a as T);
    });
    this.ackTail = tail;
  }

  /**
   * Send `p` once what was stored so far is on disk (store.durability sync), at once otherwise.
   * For the QoS 2 steps whose loss in a crash would break exactly-once: a PUBREL only after the
   * PUBREC is recorded (else the message is sent again to a client that already released it), a
   * PUBCOMP only after the released id is forgotten (else a reused id is taken for a resend). Sent
   * even if the commit failed (a full disk): the flow goes on, exactly-once then rests on no crash.
   */
  sendStored(p: Packet): void {
    const durable = this.client === null ? null : this.client.app.durable();
    if (durable === null) this.send(p);
    else durable.then(
      () => this.send(p),
      () => this.send(p),
    );
  }

  send(p: Packet): void {
    if (this.state === State.Closed) return;
    this.ctx.counters.packetsOut++;
    this.conn.write(encodePacket(p, this.level));
  }

  /** SessionLink: deliver a routed message. */
  deliver(msg: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | null, group: SharedGroup<Session> | null): void {
    const session = this.session;
    if (session === null || this.state !== State.Connected) return;
    if (qos === 0) {
      if (this.conn.backlog > this.ctx.limits.slowConsumerBytes) {
        this.router.reportDrop(session, msg, 'slow-consumer');
        return;
      }
      if (msg.expiresAt !== 0 && msg.expiresAt <= this.router.now()) {
        this.router.reportDrop(session, msg, 'expired');
        return;
      }
      this.writePublish(msg, 0, retain, subscriptionIds, 0, false);
      return;
    }
    if (session.inflightCount >= this.sendWindow || session.queued > 0) {
      session.enqueue({ msg, qos, retain, subscriptionIds, group });
      return;
    }
    this.sendInflight(msg, qos, retain, subscriptionIds, group);
  }

  private sendInflight(msg: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | null, group: SharedGroup<Session> | null): void {
    const session = this.session!;
    if (msg.expiresAt !== 0 && msg.expiresAt <= this.router.now()) {
      this.router.reportDrop(session, msg, 'expired'); // [MQTT-3.3.2-5]
      return;
    }
    // The session's delivery id is the packet id [MQTT-2.2.1-3].
    const pid = session.begin(msg, qos, retain, subscriptionIds, group);
    if (pid === 0) {
      session.enqueue({ msg, qos, retain, subscriptionIds, group });
      return;
    }
    if (!this.writePublish(msg, qos, retain, subscriptionIds, pid, false)) {
      // Too large for this client: treated as delivered [MQTT-3.1.2-25].
      session.settle(pid);
    }
  }

  /** Fill the in-flight window from the session queue (after an ack, or on resume). */
  pump(): void {
    const session = this.session;
    if (session === null || this.state !== State.Connected) return;
    const now = this.router.now();
    while (session.inflightCount < this.sendWindow) {
      const d = session.dequeue(now);
      if (!d) return;
      if (d.qos === 0) this.writePublish(d.msg, 0, d.retain, d.subscriptionIds, 0, false);
      else this.sendInflight(d.msg, d.qos, d.retain, d.subscriptionIds, d.group);
    }
  }

  /** On session resume: resend unacknowledged PUBLISH with DUP=1 and PUBREL, in order [MQTT-4.4.0-1]. */
  resumeInflight(): void {
    const session = this.session!;
    for (const [pid, e] of session.inflightEntries()) {
      if (e.phase === 'received') this.send({ type: PacketType.PUBREL, packetId: pid, reasonCode: 0, properties: NO_PROPS });
      else this.writePublish(e.msg, e.qos, e.retain, e.subscriptionIds, pid, true);
    }
    this.pump();
  }

  /**
   * Encode and write one PUBLISH. The common case (no per-subscriber properties) reuses the
   * bytes cached on the message: QoS 0 shares the Buffer itself; QoS 1/2 copy it and patch the
   * packet id. Returns false when the packet exceeds the client's Maximum Packet Size.
   */
  writePublish(msg: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | null, pid: number, dup: boolean): boolean {
    const v5 = this.level === 5;
    let buf: Buffer;
    if (subscriptionIds === null && !dup && msg.expiresAt === 0 && this.outAliases === null) {
      const slot = (v5 ? 6 : 0) + (retain ? 3 : 0) + qos;
      const wire = (msg.encoded ??= []);
      let cached: Buffer | undefined = wire[slot];
      if (cached === undefined) {
        const props = v5 ? publishProperties(msg, null, 0, this.stampFrom) : undefined;
        const size = publishSize(this.level, msg.topic, msg.payload, qos, props);
        const conn = this.conn;
        if (qos === 0 && size <= IN_PLACE && conn.coalesce) {
          // Written in place in this connection's output (no Buffer of its own, no copy at the
          // flush); later subscribers share a view of those bytes.
          if (this.clientMaxPacket !== 0 && size > this.clientMaxPacket) return false;
          const at = conn.reserve(size);
          const end = publishAt(conn.room, at, msg.topic, msg.payload, 0, retain, false, 0, props);
          wire[slot] = conn.room.subarray(at, end);
          conn.commit(end);
          this.ctx.counters.packetsOut++;
          return true;
        }
        cached = Buffer.allocUnsafe(size);
        publishAt(cached, 0, msg.topic, msg.payload, qos, retain, false, qos > 0 ? 1 : 0, props);
        wire[slot] = cached;
      }
      if (qos === 0) buf = cached as Buffer;
      else {
        buf = Buffer.allocUnsafe(cached.length);
        cached.copy(buf);
        buf.writeUInt16BE(pid, packetIdOffset(buf));
      }
    } else {
      let topic = msg.topic;
      let props: Properties | undefined;
      if (v5) {
        props = publishProperties(msg, subscriptionIds, this.router.now(), this.stampFrom);
        if (this.outAliases !== null) {
          props = { ...props }; // publishProperties may return a shared frozen object
          topic = this.applyOutAlias(topic, props);
        }
      }
      buf = encodePublish(this.level, topic, msg.payload, qos, retain, dup, pid, props);
    }
    if (this.clientMaxPacket !== 0 && buf.length > this.clientMaxPacket) return false;
    this.ctx.counters.packetsOut++;
    this.conn.write(buf);
    return true;
  }

  /** Server -> client topic alias: first use sends topic + alias, later uses send "" + alias. */
  private applyOutAlias(topic: string, props: Properties): string {
    const aliases = this.outAliases!;
    const known = aliases.get(topic);
    if (known !== undefined) {
      props.topicAlias = known;
      return '';
    }
    if (aliases.size < this.outAliasMax) {
      const alias = aliases.size + 1;
      aliases.set(topic, alias);
      props.topicAlias = alias;
    }
    return topic;
  }
}

/** Offset of the packet id in an encoded QoS>0 PUBLISH: fixed header + topic length + topic. */
function packetIdOffset(buf: Buffer): number {
  let i = 1;
  while ((buf[i]! & 0x80) !== 0) i++;
  i++;
  return i + 2 + buf.readUInt16BE(i);
}

/**
 * MQTT 5 PUBLISH properties forwarded from the message [MQTT-3.3.2-17..20], plus `from`. User
 * properties that look like `from` or hold control characters are never forwarded (whatever
 * published the message: the protocols refuse them on input, the embedding API does not).
 */
export function publishProperties(msg: Message, subscriptionIds: readonly number[] | null, now: number, stampFrom: boolean): Properties {
  const meta = msg.meta;
  const from = stampFrom && msg.sender !== null ? msg.sender.clientId : '';
  if (meta === null && subscriptionIds === null && msg.expiresAt === 0 && from === '') return NO_PROPS;
  const p: Properties = {};
  if (meta !== null) {
    if (meta.payloadFormatIndicator !== undefined) p.payloadFormatIndicator = meta.payloadFormatIndicator;
    if (meta.contentType !== undefined) p.contentType = meta.contentType;
    if (meta.responseTopic !== undefined) p.responseTopic = meta.responseTopic;
    if (meta.correlationData !== undefined) p.correlationData = meta.correlationData;
  }
  // The sender, stamped by the broker: a receiver can always reply.
  const user = meta?.userProperties === undefined ? undefined : withoutNames(meta.userProperties, isUnsafeUserProperty);
  if (from !== '') p.userProperties = user === undefined ? [['from', from]] : [['from', from], ...user];
  else if (user !== undefined) p.userProperties = user;
  if (msg.expiresAt !== 0) {
    // Remaining lifetime, rounded up [MQTT-3.3.2-6].
    p.messageExpiryInterval = Math.max(0, Math.ceil((msg.expiresAt - now) / 1000));
  }
  if (subscriptionIds !== null) p.subscriptionIdentifiers = subscriptionIds as number[];
  return p;
}
