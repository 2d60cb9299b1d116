/** CONNECT -> CONNACK (MQTT 5.0 section 3.1, 3.1.1 section 3.1). */
import { isUtf8 } from 'node:buffer';
import { createMessage } from '../../../core/message.js';
import type { MessageMeta } from '../../../core/message.js';
import { isValidTopicName } from '../../../core/topic.js';
import { PacketType } from '../codec/packets.js';
import type { ConnectPacket, Properties } from '../codec/packets.js';
import type { MqttConnection } from '../connection.js';
import { metaFromProperties } from './publish.js';
import type { WillMessage } from '../../../core/session.js';
import type { LoginOutcome } from '../../../auth/authenticate.js';
import { clientInfo } from '../../../core/hooks.js';
import type { ClientInfo } from '../../../core/hooks.js';
import { isRefusal, logRefused, openClient } from '../../../core/clients.js';
import type { Client, Refusal } from '../../../core/clients.js';
import { loginIdProblem } from '../../../core/identity.js';
import type { ErrorCode } from '../../../errors/catalogue.js';
import { encodePacket } from '../codec/encoder.js';
import { connackCode } from '../errors.js';

export function handleConnect(c: MqttConnection, p: ConnectPacket): void {
  const prepared = prepare(c, p);
  if (prepared === null) return;
  const outcome = c.ctx.auth.login({
    protocol: 'mqtt',
    appKey: p.username,
    login: prepared.clientId,
    secret: p.password === null ? null : p.password.toString('utf8'),
    remoteAddress: c.conn.remoteAddress,
    transport: c.conn.transport,
    ...(c.conn.certificateCN !== undefined ? { certificateCN: c.conn.certificateCN } : {}),
  });
  if (!(outcome instanceof Promise)) {
    finishConnect(c, p, prepared, outcome);
    return;
  }
  // Packets pipelined behind CONNECT wait until the login is decided.
  c.holdPackets();
  outcome.then(
    (o) => finishConnect(c, p, prepared, o),
    (err: unknown) => {
      c.ctx.logger.error({ err, clientId: prepared.clientId }, 'authentication failed with an error');
      finishConnect(c, p, prepared, { ok: false, code: 'SB_ERR_SERVER_UNAVAILABLE', detail: 'authentication error' });
    },
  );
}

interface Prepared {
  clientId: string;
  assigned: string | undefined;
  will: WillMessage | null;
}

/**
 * Refuse the CONNECT: CONNACK with the code's reason / return code (errors.ts), then close.
 * Logged as 'client refused' (core/clients.ts ConnectionLog); `info` once the login is known.
 */
function refuse(c: MqttConnection, p: ConnectPacket, code: ErrorCode, detail: string, info?: ClientInfo): void {
  const reasonCode = connackCode(code, p.protocolLevel);
  const conn = c.conn;
  const who = { clientId: c.clientId, protocol: 'mqtt', protocolVersion: p.protocolLevel, transport: conn.transport, remoteAddress: conn.remoteAddress } as const;
  logRefused(c.ctx.logger, info === undefined ? who : { ...who, info }, { code, detail });
  // The detail is logged, not sent: a refused client learns the code only (as Mosquitto does).
  c.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode, properties: {} });
  c.end();
}

/** Checks that need no credentials; null when the CONNECT was refused. */
function prepare(c: MqttConnection, p: ConnectPacket): Prepared | null {
  const ctx = c.ctx;
  const cfg = ctx.mqtt;
  const v5 = p.protocolLevel === 5;
  const props = p.properties;

  c.problemInfo = props.requestProblemInformation !== 0;
  c.level = p.protocolLevel;
  c.clientId = p.clientId;

  if (ctx.stopping()) {
    refuse(c, p, 'SB_ERR_SERVER_UNAVAILABLE', 'broker is shutting down');
    return null;
  }
  if (v5 && props.authenticationMethod !== undefined) {
    // No enhanced authentication method is configured [MQTT-4.12.0-1].
    refuse(c, p, 'SB_ERR_BAD_AUTH_METHOD', `unsupported authentication method "${props.authenticationMethod}"`);
    return null;
  }

  let clientId = p.clientId;
  let assigned: string | undefined;
  if (clientId.length === 0) {
    // [MQTT-3.1.3-8]: 3.1.1 rejects an empty id with clean session 0; 3.1 requires an id.
    if ((!v5 && !p.cleanStart) || p.protocolLevel === 3) {
      refuse(c, p, 'SB_ERR_CLIENT_ID', 'empty client identifier');
      return null;
    }
    clientId = ctx.assignClientId(); // [MQTT-3.1.3-6]
    if (v5) assigned = clientId; // [MQTT-3.2.2-16]
  }
  c.clientId = clientId;
  // Identities are one literal topic level inside an application (core/identity.ts).
  const problem = loginIdProblem(clientId, !ctx.auth.developmentMode, ctx.limits.maxClientIdLength);
  if (problem !== null) {
    refuse(c, p, 'SB_ERR_CLIENT_ID', `client identifier ${problem}`);
    return null;
  }

  // Will [MQTT-3.1.2-9].
  let will: WillMessage | null = null;
  if (p.will) {
    const w = p.will;
    if (!isValidTopicName(w.topic, cfg)) {
      refuse(c, p, 'SB_ERR_TOPIC_NAME', 'invalid will topic');
      return null;
    }
    if (w.qos > cfg.maxQoS) {
      refuse(c, p, 'SB_ERR_QOS_UNSUPPORTED', 'will QoS not supported'); // [MQTT-3.2.2-12]
      return null;
    }
    if (w.retain && !cfg.retainAvailable) {
      refuse(c, p, 'SB_ERR_RETAIN_UNSUPPORTED', 'will retain not supported'); // [MQTT-3.2.2-13]
      return null;
    }
    if (w.properties.payloadFormatIndicator === 1 && !isUtf8(w.payload)) {
      refuse(c, p, 'SB_ERR_PAYLOAD_FORMAT', 'will payload is not UTF-8'); // [MQTT-3.1.3-11]
      return null;
    }
    const wp = w.properties;
    const expiry = wp.messageExpiryInterval;
    const meta: MessageMeta | null = v5 ? metaFromProperties(wp) : null;
    const msg = createMessage(
      w.topic,
      Buffer.from(w.payload),
      w.qos,
      w.retain,
      meta,
      expiry !== undefined && expiry > 0 ? c.router.now() + expiry * 1000 : 0,
      null, // the sender is known once the login is: see finishConnect
    );
    will = { msg, delay: wp.willDelayInterval ?? 0 };
  }
  return { clientId, assigned, will };
}

function finishConnect(c: MqttConnection, p: ConnectPacket, prep: Prepared, outcome: LoginOutcome): void {
  if (c.closed) return;
  if (!outcome.ok) {
    // login() already held a failure back for the brute-force delay (auth/throttle.ts).
    refuse(c, p, outcome.code, outcome.detail);
    return;
  }
  const cfg = c.ctx.mqtt;
  const v5 = p.protocolLevel === 5;
  // Session expiry: v5 property (default 0); 3.1.1 clean session 0 = persistent [MQTT-3.1.2-23].
  let expiry = v5 ? (p.properties.sessionExpiryInterval ?? 0) : p.cleanStart ? 0 : 0xffffffff;
  const expiryCapped = expiry > cfg.maxSessionExpiry;
  if (expiryCapped) expiry = cfg.maxSessionExpiry;
  const app = outcome.app;
  const info = clientInfo(prep.clientId, outcome.identity, app.id, 'mqtt', c.conn.transport, c.conn.remoteAddress);
  // The core decides the rest: the will as a publish, admission, the session (core/clients.ts).
  const will = prep.will === null ? null : { delay: prep.will.delay, msg: { ...prep.will.msg, sender: info } };
  // The core logs the client's connection and its end (core/clients.ts ConnectionLog).
  const opened = openClient(app, { info, cleanStart: p.cleanStart, expiry, will, protocolVersion: p.protocolLevel, log: c.ctx.logger }, c);
  if (!(opened instanceof Promise)) {
    accept(c, p, prep, opened, expiry, expiryCapped && v5, info);
    return;
  }
  c.holdPackets();
  opened.then(
    (o) => accept(c, p, prep, o, expiry, expiryCapped && v5, info),
    (err: unknown) => {
      c.ctx.logger.error({ err, clientId: prep.clientId }, 'opening the client failed');
      refuseWith(c, p, { code: 'SB_ERR_SERVER_UNAVAILABLE', detail: 'internal error' }, info);
    },
  );
}

function refuseWith(c: MqttConnection, p: ConnectPacket, r: Refusal, info: ClientInfo): void {
  if (c.closed) return;
  refuse(c, p, r.code, r.detail, info);
}

/** The core accepted the client (or refused it): answer CONNACK. */
function accept(c: MqttConnection, p: ConnectPacket, prep: Prepared, opened: Client | Refusal, expiry: number, expiryCapped: boolean, info: ClientInfo): void {
  if (isRefusal(opened)) {
    refuseWith(c, p, opened, info);
    return;
  }
  c.bind(opened); // from here on the connection's end detaches the session
  if (c.closed) {
    opened.detach(c.endReason, false); // left while an asynchronous hook decided: no CONNACK, so no will
    return;
  }
  const ctx = c.ctx;
  const cfg = ctx.mqtt;
  const v5 = p.protocolLevel === 5;
  const props = p.properties;
  const { clientId, assigned } = prep;
  const present = opened.present;

  // Negotiated limits.
  c.sendWindow = Math.min(props.receiveMaximum ?? 65535, cfg.maxInflight);
  c.clientMaxPacket = props.maximumPacketSize ?? 0;
  c.keepAlive = p.keepAlive;
  let serverKeepAlive: number | undefined;
  if (cfg.maxKeepAlive > 0 && (p.keepAlive === 0 || p.keepAlive > cfg.maxKeepAlive)) {
    if (v5) {
      serverKeepAlive = cfg.maxKeepAlive; // [MQTT-3.2.2-21]
      c.keepAlive = cfg.maxKeepAlive;
    }
  }
  const clientAliasMax = props.topicAliasMaximum ?? 0;
  if (v5 && cfg.serverTopicAliases > 0 && clientAliasMax > 0) {
    c.outAliasMax = Math.min(clientAliasMax, cfg.serverTopicAliases);
    c.outAliases = new Map();
  }

  const ack: Properties = {};
  if (v5) {
    if (assigned !== undefined) ack.assignedClientIdentifier = assigned;
    if (expiryCapped) ack.sessionExpiryInterval = expiry;
    if (serverKeepAlive !== undefined) ack.serverKeepAlive = serverKeepAlive;
    ack.receiveMaximum = cfg.receiveMaximum;
    ack.maximumPacketSize = cfg.maxPacketSize;
    if (cfg.topicAliasMaximum > 0) ack.topicAliasMaximum = cfg.topicAliasMaximum;
    if (cfg.maxQoS < 2) ack.maximumQoS = cfg.maxQoS;
    if (!cfg.retainAvailable) ack.retainAvailable = 0;
    if (!cfg.wildcardSubscriptions) ack.wildcardSubscriptionAvailable = 0;
    if (!cfg.subscriptionIdentifiers) ack.subscriptionIdentifierAvailable = 0;
    if (!cfg.sharedSubscriptions) ack.sharedSubscriptionAvailable = 0;
    if (props.requestResponseInformation === 1) ack.responseInformation = `$inbox/${clientId}`;
  }
  const connack = { type: PacketType.CONNACK, sessionPresent: present && p.protocolLevel > 3, reasonCode: 0, properties: ack } as const; // [MQTT-3.2.2-1]
  if (c.clientMaxPacket !== 0 && encodePacket(connack, p.protocolLevel).length > c.clientMaxPacket) {
    // Not even the CONNACK fits the client's Maximum Packet Size [MQTT-3.1.2-24].
    c.closeWith('SB_ERR_TOO_LARGE', 'CONNACK larger than the client maximum packet size');
    return;
  }
  c.send(connack);
  c.markConnected(); // 'client connected' is logged by the core (openClient)
  if (present) c.resumeInflight();
  c.releasePackets();
}
