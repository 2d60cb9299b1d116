/**
 * One MQTT-SN 1.2 client of the gateway: the state machine that turns decoded datagrams into
 * core calls (core/clients.ts) and core deliveries into datagrams. The UDP transport gives one
 * connection per client address (transports/udp.ts); inbound messages go to
 * handlers/<message>.ts; this file owns the client's state, its keepalive, the outbound
 * exchange and retransmission.
 *
 * States (6.14 figure 4): new (the address sent nothing valid yet) -> will exchange (6.3) ->
 * logging in -> active <-> asleep <-> awake -> closed. Before CONNECT only CONNECT, a QoS -1
 * PUBLISH (6.8) and SEARCHGW are accepted; anything else is counted and ignored, and an address
 * that sends no CONNECT is forgotten after mqtt.connectTimeoutMs. An unverified address is never
 * answered with more octets than it sent, except GWINFO.
 *
 * Outbound: one exchange outstanding at a time (6.13: "a client/gateway should have only one
 * message outstanding"): a REGISTER awaiting REGACK (the gateway names a topic before its first
 * PUBLISH, 6.5), a QoS 1/2 PUBLISH awaiting PUBACK/PUBREC, or a PUBREL awaiting PUBCOMP; others
 * wait in the session queue (core/session.ts), where the core bounds them. An exchange is sent
 * again after mqttsn.retryMs (Tretry, with DUP for a PUBLISH), mqttsn.retries times (Nretry);
 * then the client is lost (its will is published).
 */
import type { Connection, ConnectionHandler } from '../../transports/connection.js';
import { expireToken } from '../token-expiry.js';
import type { Deadline, Due, Swept } from '../../core/clock.js';
import type { Message, QoS } from '../../core/message.js';
import type { Router } from '../../core/router.js';
import type { Client } from '../../core/clients.js';
import type { DisconnectReason } from '../../core/presence.js';
import { CLOSE_REASONS } from '../../core/session.js';
import type { CloseReason, Delivery, Session, SessionLink } from '../../core/session.js';
import type { SharedGroup } from '../../core/topic-trie.js';
import type { ErrorCode } from '../../errors/catalogue.js';
import { silentTooLong } from '../mqtt/keepalive.js';
import { DecodeError } from './packets.js';
import type { Connect, Message as SnMessage, PublishTopic, WillTopic } from './packets.js';
import { MAX_MESSAGE_SIZE, decode, encode } from './codec.js';
import type { MqttSnContext } from './context.js';
import { TopicRegistry, outboundTopic } from './topics.js';
import { handleConnect, handleWillMsg, handleWillTopic } from './handlers/connect.js';
import { handleRegack, handleRegister } from './handlers/register.js';
import { handlePublish, handlePublishMinusOne } from './handlers/publish.js';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './handlers/acks.js';
import { handleSubscribe } from './handlers/subscribe.js';
import { handleUnsubscribe } from './handlers/unsubscribe.js';
import { handlePingreq } from './handlers/pingreq.js';
import { handleDisconnect } from './handlers/disconnect.js';
import { handleWillMsgUpd, handleWillTopicUpd } from './handlers/willupdate.js';
import { handleSearchGw } from './handlers/searchgw.js';

export const enum State {
  New,
  WillTopic,
  WillMsg,
  LoggingIn,
  Active,
  Asleep,
  Awake,
  Closed,
}

/** Messages that wait while a login or hook decision is pending; more are dropped (UDP has no backpressure). */
const MAX_HELD = 64;
/** PUBLISH header octets with the 3-octet Length (5.2.1): Length 3, MsgType, Flags, TopicId 2, MsgId 2. */
const PUBLISH_HEADER_MAX = 9;

/** A delivery on its way out; `id` is its session delivery id once begun (0: not yet, or QoS 0). */
interface Outgoing {
  d: Delivery;
  id: number;
  dup: boolean;
}

/** The one exchange awaiting the client's answer. */
type Exchange =
  | { kind: 'register'; msgId: number; topicId: number; then: Outgoing; packet: SnMessage }
  | { kind: 'publish'; id: number; packet: SnMessage & { type: 'PUBLISH' } }
  | { kind: 'pubrel'; id: number; packet: SnMessage };

export class MqttSnConnection implements SessionLink, ConnectionHandler, Swept {
  state = State.New;
  clientId = '';
  client: Client | null = null;
  session: Session | null = null;
  router: Router;
  readonly registry: TopicRegistry;
  /** The CONNECT being answered (will exchange, login). */
  connecting: Connect | null = null;
  /** The will's topic and message as the client last gave them (CONNECT exchange or the updates, 6.3, 6.4). */
  willTopic: WillTopic | null = null;
  willMsg: Buffer = Buffer.alloc(0);
  /** Seconds of silence tolerated (x 1.5): the CONNECT Duration, or the sleep duration while asleep (6.14). */
  keepAlive = 0;
  /** The Duration of the last CONNECT, restored when a sleeping client CONNECTs again. */
  sleepDuration = 0;
  lastActivity = 0;
  endReason: DisconnectReason = 'dropped';
  endCode: ErrorCode | undefined = undefined;
  /** DISCONNECT from the client: no will. */
  cleanDisconnect = false;
  private held: SnMessage[] | null = null;
  private exchange: Exchange | null = null;
  private tries = 0;
  private retryAt: Deadline | null = null;
  /** In-flight deliveries to send again (a resumed session, a client that went to sleep mid-exchange), oldest first. */
  private resend: number[] = [];
  private registerMsgId = 0;
  private watched = false;
  /** The connect timeout until CONNACK, then the credentials' expiry, if any. */
  private deadline: Deadline | null = null;

  private static readonly connectTimeout: Due<MqttSnConnection> = {
    due: (c) => {
      c.deadline = null;
      if (c.state < State.Active) c.drop('no CONNECT within the connect timeout');
    },
  };

  private static readonly retransmit: Due<MqttSnConnection> = {
    due: (c) => {
      c.retryAt = null;
      c.retry();
    },
  };

  constructor(
    readonly ctx: MqttSnContext,
    readonly conn: Connection,
  ) {
    this.router = ctx.router;
    this.registry = new TopicRegistry(ctx.limits.maxSubscriptionsPerClient);
    conn.setHandler(this);
    ctx.connections.add(this);
    ctx.counters.connectionsAccepted++;
    this.armConnectTimeout();
  }

  armConnectTimeout(): void {
    this.deadline?.cancel();
    const sweep = this.ctx.sweep;
    this.deadline = sweep.at(sweep.now() + this.ctx.mqtt.connectTimeoutMs, MqttSnConnection.connectTimeout, this);
  }

  get closed(): boolean {
    return this.state === State.Closed;
  }

  // ---- inbound ---------------------------------------------------------------------------

  /** One datagram: one message (5.1). Never throws: a malformed datagram is counted and dropped. */
  onData(buf: Buffer): void {
    if (this.state === State.Closed) return;
    const counters = this.ctx.counters;
    counters.datagramsIn++;
    const p = decode(buf);
    if (p instanceof DecodeError) {
      counters.malformed++;
      return;
    }
    if (p.type === 'ENCAPSULATED') {
      // Forwarders (5.5) are not supported: their clients would need answers encapsulated.
      counters.unexpected++;
      return;
    }
    if (this.held !== null) {
      if (this.held.length < MAX_HELD) this.held.push(p);
      else counters.unexpected++;
      return;
    }
    this.dispatch(p);
  }

  private dispatch(p: SnMessage): void {
    const state = this.state;
    if (state === State.Closed) return;
    if (state === State.New) {
      // The address is not verified: only these, and nothing larger than they are comes back.
      if (p.type === 'CONNECT') handleConnect(this, p);
      else if (p.type === 'PUBLISH' && p.qos === -1) handlePublishMinusOne(this, p);
      else if (p.type === 'SEARCHGW') handleSearchGw(this, p);
      else this.ctx.counters.unexpected++;
      return;
    }
    if (this.keepAlive !== 0) this.lastActivity = this.ctx.sweep.now();
    if (state === State.WillTopic || state === State.WillMsg) {
      if (p.type === 'CONNECT') handleConnect(this, p);
      else if (state === State.WillTopic && p.type === 'WILLTOPIC') handleWillTopic(this, p);
      else if (state === State.WillMsg && p.type === 'WILLMSG') handleWillMsg(this, p);
      else this.ctx.counters.unexpected++;
      return;
    }
    if (state === State.Asleep) {
      // 6.14: an asleep client only wakes (PINGREQ with its ClientId), CONNECTs or DISCONNECTs.
      if (p.type === 'PINGREQ') handlePingreq(this, p);
      else if (p.type === 'CONNECT') handleConnect(this, p);
      else if (p.type === 'DISCONNECT') handleDisconnect(this, p);
      else this.ctx.counters.unexpected++;
      return;
    }
    switch (p.type) {
      case 'CONNECT':
        handleConnect(this, p);
        return;
      case 'REGISTER':
        handleRegister(this, p);
        return;
      case 'REGACK':
        handleRegack(this, p);
        return;
      case 'PUBLISH':
        handlePublish(this, p);
        return;
      case 'PUBACK':
        handlePuback(this, p);
        return;
      case 'PUBREC':
        handlePubrec(this, p);
        return;
      case 'PUBREL':
        handlePubrel(this, p);
        return;
      case 'PUBCOMP':
        handlePubcomp(this, p);
        return;
      case 'SUBSCRIBE':
        handleSubscribe(this, p);
        return;
      case 'UNSUBSCRIBE':
        handleUnsubscribe(this, p);
        return;
      case 'PINGREQ':
        handlePingreq(this, p);
        return;
      case 'DISCONNECT':
        handleDisconnect(this, p);
        return;
      case 'WILLTOPICUPD':
        handleWillTopicUpd(this, p);
        return;
      case 'WILLMSGUPD':
        handleWillMsgUpd(this, p);
        return;
      case 'SEARCHGW':
        handleSearchGw(this, p);
        return;
      default:
        // Gateway-to-client messages, ADVERTISE/GWINFO of other gateways, a will exchange out of turn.
        this.ctx.counters.unexpected++;
    }
  }

  /** Hold later messages while a login or an asynchronous hook decides (order is kept). */
  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const items = this.held;
    if (items === null) return;
    this.held = null;
    for (let i = 0; i < items.length; i++) {
      if (this.held !== null) {
        (this.held as SnMessage[]).push(...items.slice(i));
        return;
      }
      this.dispatch(items[i]!);
    }
  }

  onClose(): void {
    this.ctx.closed(this.conn.remoteAddress);
    if (this.state !== State.Closed) {
      this.state = State.Closed;
      this.gone();
    }
    this.cleanup();
  }

  // ---- session lifecycle -----------------------------------------------------------------

  bind(client: Client): void {
    this.client = client;
    this.session = client.session;
    this.router = client.app.router;
  }

  /** A client that CONNECTs again on this address: its previous client ends first, without its will. */
  unbind(): void {
    this.client?.detach('clean', false);
    this.client = null;
    this.session = null;
    this.cancelExchange();
    this.resend = [];
    this.registry.clear();
  }

  /** CONNACK sent: active, watched for silence, closed when its credentials expire. */
  markActive(present: boolean): void {
    this.state = State.Active;
    const sweep = this.ctx.sweep;
    this.deadline?.cancel();
    this.deadline = null;
    this.lastActivity = sweep.now();
    if (!this.watched) {
      this.watched = true;
      sweep.watch(this);
    }
    const expiresAt = this.client?.info.expiresAt;
    if (expiresAt !== undefined) this.deadline = expireToken(sweep, expiresAt, this);
    if (present && this.session !== null) for (const [id] of this.session.inflightEntries()) this.resend.push(id);
    this.pump();
  }

  /** DISCONNECT with a Duration (6.14): asleep; deliveries are buffered until it wakes. */
  sleep(duration: number): void {
    const x = this.exchange;
    if (x !== null) {
      this.cancelExchange();
      // The exchange starts again when the client wakes.
      if (x.kind !== 'register') this.resend.unshift(x.id);
      else if (x.then.id !== 0) this.resend.unshift(x.then.id);
      else if (x.then.d.qos > 0 && this.session !== null) {
        const d = x.then.d;
        const id = this.session.begin(d.msg, d.qos, d.retain, d.subscriptionIds, d.group);
        if (id !== 0) this.resend.unshift(id);
      }
    }
    this.state = State.Asleep;
    this.keepAlive = duration;
    this.lastActivity = this.ctx.sweep.now();
  }

  /** PINGREQ with the ClientId (6.14): send what was buffered, then PINGRESP (pump), then asleep again. */
  wake(): void {
    this.state = State.Awake;
    this.pump();
  }

  get app(): Client['app'] | null {
    return this.client === null ? null : this.client.app;
  }

  private gone(): void {
    this.cancelExchange();
    this.client?.detach(this.endReason, !this.cleanDisconnect, this.endCode);
    this.session = null;
  }

  private cleanup(): void {
    if (this.watched) this.ctx.sweep.unwatch(this);
    this.watched = false;
    this.deadline?.cancel();
    this.deadline = null;
    this.cancelExchange();
    this.ctx.connections.delete(this);
  }

  /** Lost (6.13, 6.14): silent 1.5 x its Duration (or its sleep duration), or no answer after Nretry retransmissions. */
  onSweep(now: number): void {
    if (this.state < State.Active || this.state === State.Closed || !silentTooLong(now, this.lastActivity, this.keepAlive)) return;
    this.endReason = 'keepalive-timeout';
    this.endCode = 'SB_ERR_KEEPALIVE';
    this.drop('keepalive timeout');
  }

  /** SessionLink: the broker ends this client (takeover, kick, shutdown, expired credentials): DISCONNECT, then forgotten. */
  close(reason: CloseReason): void {
    if (this.state === State.Closed) return;
    const { code, presence } = CLOSE_REASONS[reason];
    this.endReason = presence;
    this.endCode = code;
    // Now: on a takeover the new connection sets its own will next.
    this.cancelExchange();
    this.client?.detach(presence, !this.cleanDisconnect, code);
    this.session = null;
    if (this.state >= State.Active) this.send({ type: 'DISCONNECT', duration: null });
    this.end();
  }

  shutdown(): void {
    if (this.state < State.Active) {
      this.drop('shutdown');
      return;
    }
    this.close('shutdown');
  }

  /** Answer sent (DISCONNECT, a refusing CONNACK): forget the address. */
  end(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.gone();
    this.conn.end();
    this.cleanup();
  }

  /** Forget the address without an answer. */
  drop(why: string): void {
    if (this.state === State.Closed) return;
    this.ctx.logger.debug({ clientId: this.clientId, remoteAddress: this.conn.remoteAddress, remotePort: this.conn.remotePort }, `MQTT-SN client closed: ${why}`);
    this.state = State.Closed;
    this.gone();
    this.conn.destroy();
    this.cleanup();
  }

  // ---- outbound --------------------------------------------------------------------------

  send(m: SnMessage): void {
    if (this.state === State.Closed) return;
    this.ctx.counters.datagramsOut++;
    this.conn.write(encode(m));
  }

  /** SessionLink: a routed message for this client. */
  deliver(msg: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | null, group: SharedGroup<Session> | null): void {
    const session = this.session;
    if (session === null) return;
    const state = this.state;
    if (state === State.Asleep) {
      // 6.14: buffered until the client wakes, at most mqttsn.maxBufferedPerSleeper.
      if (session.queued >= this.ctx.mqttsn.maxBufferedPerSleeper) {
        session.dropped++;
        this.router.reportDrop(session, msg, 'queue-full');
        return;
      }
      session.enqueue({ msg, qos, retain, subscriptionIds, group });
      return;
    }
    if (state !== State.Active && state !== State.Awake) return;
    if (this.exchange !== null || this.resend.length > 0 || session.queued > 0) {
      session.enqueue({ msg, qos, retain, subscriptionIds, group });
      return;
    }
    this.start({ d: { msg, qos, retain, subscriptionIds, group }, id: 0, dup: false });
  }

  /** Send what waits (resends first, then the session queue) while no exchange is outstanding. */
  pump(): void {
    const session = this.session;
    if (session === null || (this.state !== State.Active && this.state !== State.Awake)) return;
    const now = this.router.now();
    while (this.exchange === null) {
      const id = this.resend.shift();
      if (id !== undefined) {
        const e = session.inflight(id);
        if (e === undefined) continue;
        if (e.phase === 'received') this.begin({ kind: 'pubrel', id, packet: { type: 'PUBREL', msgId: id } });
        else this.start({ d: e, id, dup: true });
        continue;
      }
      const d = session.dequeue(now);
      if (d === undefined) break;
      this.start({ d, id: 0, dup: false });
    }
    // Awake: everything buffered went out (and was acknowledged): PINGRESP, asleep again (6.14).
    if (this.state === State.Awake && this.exchange === null && this.resend.length === 0 && session.queued === 0) {
      this.send({ type: 'PINGRESP' });
      this.state = State.Asleep;
      this.lastActivity = this.ctx.sweep.now();
    }
  }

  /** One delivery: REGISTER its topic first if the client has no id for it (6.5), then PUBLISH. */
  private start(o: Outgoing): void {
    const session = this.session!;
    const msg = o.d.msg;
    if (msg.expiresAt !== 0 && msg.expiresAt <= this.router.now()) {
      this.router.reportDrop(session, msg, 'expired');
      if (o.id !== 0) session.settle(o.id);
      return;
    }
    const topic = outboundTopic(msg.topic, this.registry, this.ctx.predefined);
    if (topic !== null) {
      this.publish(o, topic);
      return;
    }
    const topicId = this.registry.register(msg.topic);
    if (topicId === 0) {
      // The client's registry is full: the topic cannot be named to it.
      session.dropped++;
      this.router.reportDrop(session, msg, 'queue-full');
      if (o.id !== 0) session.settle(o.id);
      return;
    }
    this.registerMsgId = (this.registerMsgId % 0xffff) + 1;
    const msgId = this.registerMsgId;
    this.begin({ kind: 'register', msgId, topicId, then: o, packet: { type: 'REGISTER', topicId, msgId, topicName: msg.topic } });
  }

  /** The client answered the gateway's REGISTER (6.5). */
  registered(msgId: number, accepted: boolean): void {
    const x = this.exchange;
    if (x === null || x.kind !== 'register' || x.msgId !== msgId) return;
    this.cancelExchange();
    if (accepted) this.publish(x.then, { kind: 'normal', id: x.topicId });
    else {
      this.registry.forget(x.topicId);
      const session = this.session!;
      session.dropped++;
      this.router.reportDrop(session, x.then.d.msg, 'queue-full');
      if (x.then.id !== 0) session.settle(x.then.id);
    }
    this.pump();
  }

  private publish(o: Outgoing, topic: PublishTopic): void {
    const session = this.session!;
    const d = o.d;
    if (PUBLISH_HEADER_MAX + d.msg.payload.length > MAX_MESSAGE_SIZE) {
      // Larger than a datagram (5.2.1): never sent, reported like a delivery the link cannot take.
      session.dropped++;
      this.router.reportDrop(session, d.msg, 'slow-consumer');
      if (o.id !== 0) session.settle(o.id);
      return;
    }
    if (d.qos === 0) {
      this.send({ type: 'PUBLISH', dup: false, qos: 0, retain: d.retain, topic, msgId: 0, data: d.msg.payload });
      return;
    }
    // The session's delivery id is the MsgId (1..65535, 5.3.7).
    const id = o.id !== 0 ? o.id : session.begin(d.msg, d.qos, d.retain, d.subscriptionIds, d.group);
    if (id === 0) {
      session.enqueue(d);
      return;
    }
    this.begin({ kind: 'publish', id, packet: { type: 'PUBLISH', dup: o.dup, qos: d.qos, retain: d.retain, topic, msgId: id, data: d.msg.payload } });
  }

  private begin(x: Exchange): void {
    this.exchange = x;
    this.tries = 0;
    this.send(x.packet);
    const sweep = this.ctx.sweep;
    this.retryAt = sweep.at(sweep.now() + this.ctx.mqttsn.retryMs, MqttSnConnection.retransmit, this);
  }

  /** Tretry passed without an answer (6.13): send again (DUP for a PUBLISH), or the client is lost after Nretry. */
  private retry(): void {
    const x = this.exchange;
    if (x === null || this.state === State.Closed) return;
    if (this.tries >= this.ctx.mqttsn.retries) {
      this.endReason = 'dropped';
      this.drop(`no answer to ${x.packet.type} after ${this.tries} retransmissions`);
      return;
    }
    this.tries++;
    this.ctx.counters.retransmissions++;
    if (x.kind === 'publish') x.packet.dup = true;
    this.send(x.packet);
    const sweep = this.ctx.sweep;
    this.retryAt = sweep.at(sweep.now() + this.ctx.mqttsn.retryMs, MqttSnConnection.retransmit, this);
  }

  /** PUBACK / PUBREC / PUBCOMP for delivery `id`: the outstanding exchange, if it is that one. */
  outstanding(id: number, kind: 'publish' | 'pubrel'): boolean {
    const x = this.exchange;
    return x !== null && x.kind === kind && x.id === id;
  }

  /** The exchange for `id` is over (acknowledged): the next one may start. */
  finished(): void {
    this.cancelExchange();
    this.pump();
  }

  /** PUBREC: the second half of a QoS 2 delivery (6.7): PUBREL until PUBCOMP. */
  release2(id: number): void {
    this.cancelExchange();
    this.begin({ kind: 'pubrel', id, packet: { type: 'PUBREL', msgId: id } });
  }

  private cancelExchange(): void {
    this.exchange = null;
    this.retryAt?.cancel();
    this.retryAt = null;
  }
}
