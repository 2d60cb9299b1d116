/**
 * CONNECT -> (WILLTOPICREQ / WILLTOPIC / WILLMSGREQ / WILLMSG) -> CONNACK (MQTT-SN 1.2 sections
 * 5.4.4-5.4.9, 6.2, 6.3).
 *
 * Login: MQTT-SN CONNECT carries no credentials. Every client of the gateway logs in as the
 * configured application (`mqttsn.app`) with the profile `mqttsn.profile` (default AGENT), its
 * client id as login, through the same Authenticator as MQTT and STOMP (protocol 'mqttsn'; the
 * appKey and the profile's key are resolved once at start): hooks, throttling, the
 * duplicate-login policy, permissions, `from`, $inbox, $monitor, $presence and dead letters
 * apply unchanged.
 *
 * Client id: 1 to 23 characters in the specification (5.3.1); longer ones are accepted up to
 * limits.maxClientIdLength, as MQTT 3.1.1 servers may; inside an application an id is one
 * topic level (core/identity.ts). An empty one is refused (no id is assigned: CONNACK has no
 * field to carry it).
 *
 * CleanSession 1: a session that ends with the client; 0: a persistent one (mqtt.maxSessionExpiry)
 * whose subscriptions and queued messages survive (its topic ids do not: 6.5 registrations
 * belong to the connection). Duration: the keepalive (6.10), capped by mqtt.maxKeepAlive when
 * set; 0 means none unless mqtt.maxKeepAlive is set.
 */
import { createMessage } from '../../../core/message.js';
import type { QoS as CoreQoS } from '../../../core/message.js';
import { clientInfo } from '../../../core/hooks.js';
import type { ClientInfo } from '../../../core/hooks.js';
import { isRefusal, logRefused, openClient } from '../../../core/clients.js';
import type { Client, Refusal } from '../../../core/clients.js';
import { loginIdProblem } from '../../../core/identity.js';
import type { WillMessage } from '../../../core/session.js';
import type { LoginOutcome } from '../../../auth/authenticate.js';
import type { ErrorCode } from '../../../errors/catalogue.js';
import { ReturnCode } from '../packets.js';
import type { Connect, WillMsg, WillTopic, WillTopicMsg } from '../packets.js';
import { State } from '../connection.js';
import type { MqttSnConnection } from '../connection.js';
import { returnCode } from '../errors.js';

export const PROTOCOL_VERSION = '1.2';

export function handleConnect(c: MqttSnConnection, p: Connect): void {
  const ctx = c.ctx;
  if (c.client !== null) {
    // 6.14: a sleeping client CONNECTs to be active again, its session as it was.
    if ((c.state === State.Asleep || c.state === State.Awake) && p.clientId === c.clientId && !p.will && !p.cleanSession) {
      c.keepAlive = keepAliveFor(c, p.duration);
      c.send({ type: 'CONNACK', returnCode: ReturnCode.ACCEPTED });
      c.markActive(false);
      return;
    }
    // Any other CONNECT on this address starts a new client: the previous one ends, without its will.
    c.unbind();
  }
  c.connecting = p;
  c.clientId = p.clientId;
  c.willTopic = null;
  c.willMsg = Buffer.alloc(0);
  c.state = State.New;
  c.armConnectTimeout();
  if (p.protocolId !== 0x01) {
    refuse(c, 'SB_ERR_UNSUPPORTED_VERSION', `ProtocolId 0x${p.protocolId.toString(16)} is not MQTT-SN 1.2 (5.3.8)`);
    return;
  }
  if (ctx.stopping()) {
    refuse(c, 'SB_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    return;
  }
  const problem = p.clientId.length === 0 ? 'is empty' : loginIdProblem(p.clientId, !ctx.auth.developmentMode, ctx.limits.maxClientIdLength);
  if (problem !== null) {
    refuse(c, 'SB_ERR_CLIENT_ID', `client identifier ${problem}`);
    return;
  }
  if (p.will) {
    c.state = State.WillTopic;
    c.send({ type: 'WILLTOPICREQ' });
    return;
  }
  login(c, p);
}

/** WILLTOPIC (5.4.7): the empty one means no will after all. */
export function handleWillTopic(c: MqttSnConnection, p: WillTopicMsg): void {
  const connect = c.connecting;
  if (connect === null) return;
  if (p.will === null) {
    login(c, connect);
    return;
  }
  c.willTopic = p.will;
  c.state = State.WillMsg;
  c.send({ type: 'WILLMSGREQ' });
}

export function handleWillMsg(c: MqttSnConnection, p: WillMsg): void {
  const connect = c.connecting;
  if (connect === null) return;
  c.willMsg = Buffer.from(p.willMsg); // kept for the session's life: not a view of the datagram
  login(c, connect);
}

/** The will as a message of `info` (QoS -1 is not a will QoS: 0; above mqtt.maxQoS: the maximum), or null. */
export function willOf(c: MqttSnConnection, info: ClientInfo, w: WillTopic | null, payload: Buffer): WillMessage | null {
  if (w === null) return null;
  const max = c.ctx.mqtt.maxQoS;
  const qos = (w.qos < 0 ? 0 : w.qos > max ? max : w.qos) as CoreQoS;
  return { msg: createMessage(w.topic, payload, qos, w.retain, null, 0, info), delay: 0 };
}

function login(c: MqttSnConnection, p: Connect): void {
  const ctx = c.ctx;
  if (c.willTopic?.retain === true && !ctx.mqtt.retainAvailable) {
    refuse(c, 'SB_ERR_RETAIN_UNSUPPORTED', 'will retain not supported');
    return;
  }
  c.state = State.LoggingIn;
  c.hold();
  const outcome = ctx.auth.login({
    protocol: 'mqttsn',
    transport: c.conn.transport,
    appKey: ctx.login.appKey,
    login: p.clientId,
    secret: ctx.login.secret,
    remoteAddress: c.conn.remoteAddress,
  });
  if (!(outcome instanceof Promise)) {
    loggedIn(c, p, outcome);
    return;
  }
  outcome.then(
    (o) => loggedIn(c, p, o),
    (err: unknown) => {
      ctx.logger.error({ err, clientId: p.clientId }, 'authentication failed with an error');
      loggedIn(c, p, { ok: false, code: 'SB_ERR_SERVER_UNAVAILABLE', detail: 'authentication error' });
    },
  );
}

function loggedIn(c: MqttSnConnection, p: Connect, outcome: LoginOutcome): void {
  if (c.closed || c.connecting !== p) return;
  if (!outcome.ok) {
    refuse(c, outcome.code, outcome.detail);
    return;
  }
  const info = clientInfo(p.clientId, outcome.identity, outcome.app.id, 'mqttsn', c.conn.transport, c.conn.remoteAddress);
  const will = willOf(c, info, c.willTopic, c.willMsg);
  const expiry = p.cleanSession ? 0 : c.ctx.mqtt.maxSessionExpiry;
  // The core decides the rest: the will as a publish, admission, the session, the connection log.
  const opened = openClient(outcome.app, { info, cleanStart: p.cleanSession, expiry, will, protocolVersion: PROTOCOL_VERSION, log: c.ctx.logger }, c);
  if (!(opened instanceof Promise)) {
    accept(c, p, opened, info);
    return;
  }
  opened.then(
    (o) => accept(c, p, o, info),
    (err: unknown) => {
      c.ctx.logger.error({ err, clientId: p.clientId }, 'opening the client failed');
      accept(c, p, { code: 'SB_ERR_SERVER_UNAVAILABLE', detail: 'internal error' }, info);
    },
  );
}

function accept(c: MqttSnConnection, p: Connect, opened: Client | Refusal, info: ClientInfo): void {
  if (isRefusal(opened)) {
    if (!c.closed) refuse(c, opened.code, opened.detail, info);
    return;
  }
  c.bind(opened); // from here on the connection's end detaches the session
  if (c.closed || c.connecting !== p) {
    opened.detach(c.endReason, false); // gone while the core decided: no CONNACK, so no will
    return;
  }
  c.connecting = null;
  c.keepAlive = keepAliveFor(c, p.duration);
  c.sleepDuration = c.keepAlive;
  c.send({ type: 'CONNACK', returnCode: ReturnCode.ACCEPTED });
  c.markActive(opened.present);
  c.release();
}

function keepAliveFor(c: MqttSnConnection, duration: number): number {
  const max = c.ctx.mqtt.maxKeepAlive;
  return max > 0 && (duration === 0 || duration > max) ? max : duration;
}

/** A refusing CONNACK (errors.ts), logged as 'client refused'; the address is forgotten. */
function refuse(c: MqttSnConnection, code: ErrorCode, detail: string, info?: ClientInfo): void {
  const who = { clientId: c.clientId, protocol: 'mqttsn', protocolVersion: PROTOCOL_VERSION, transport: c.conn.transport, remoteAddress: c.conn.remoteAddress } as const;
  logRefused(c.ctx.logger, info === undefined ? who : { ...who, info }, { code, detail });
  c.send({ type: 'CONNACK', returnCode: returnCode(code, 'CONNACK') });
  c.end();
}
