/**
 * QoS -1 (MQTT-SN 1.2 section 6.8): a PUBLISH to a predefined topic id or a short topic name
 * from an address that has not CONNECTed. No state is kept for the address.
 *
 * Such messages are published by one client the gateway holds for them, `mqttsn-anon`, logged
 * in like every MQTT-SN client (the configured application and profile: permissions, hooks,
 * limits, $monitor and dead letters apply as to any client of that profile; `from` is
 * `mqttsn-anon`, an identity literal like any client id; the sender's address is only logged at
 * debug). It is opened on the first such message and kept; it never subscribes. A client that
 * CONNECTs as `mqttsn-anon` meets the duplicate-login policy like any other.
 */
import type { Logger } from 'pino';
import type { Authenticator, LoginOutcome } from '../../auth/authenticate.js';
import { isRefusal, openClient } from '../../core/clients.js';
import type { Client, Refusal } from '../../core/clients.js';
import { clientInfo } from '../../core/hooks.js';
import { createMessage } from '../../core/message.js';
import type { Message, QoS } from '../../core/message.js';
import { CLOSE_REASONS } from '../../core/session.js';
import type { CloseReason, SessionLink } from '../../core/session.js';
import type { MqttSnLogin } from './context.js';

export const ANONYMOUS_CLIENT_ID = 'mqttsn-anon';
/** Messages that wait while the client is being opened (an asynchronous login hook); more are dropped. */
const MAX_WAITING = 64;

export class AnonymousPublisher implements SessionLink {
  private client: Client | null = null;
  /** Set while opening: what waits for the client. */
  private waiting: Array<{ topic: string; payload: Buffer; retain: boolean }> | null = null;

  constructor(
    private readonly auth: Authenticator,
    private readonly login: MqttSnLogin,
    private readonly logger: Logger,
    private readonly counters: { anonymousPublishes: number },
  ) {}

  /** Publish at QoS 0 (what QoS -1 means past the gateway). */
  publish(topic: string, payload: Buffer, retain: boolean, from: string): void {
    this.counters.anonymousPublishes++;
    const client = this.client;
    if (client !== null) {
      this.send(client, topic, payload, retain, from);
      return;
    }
    if (this.waiting !== null) {
      if (this.waiting.length < MAX_WAITING) this.waiting.push({ topic, payload, retain });
      return;
    }
    this.waiting = [{ topic, payload, retain }];
    const outcome = this.auth.login({ protocol: 'mqttsn', transport: 'udp', appKey: this.login.appKey, login: ANONYMOUS_CLIENT_ID, secret: this.login.secret, remoteAddress: from });
    if (outcome instanceof Promise)
      outcome.then(
        (o) => this.opened(o, from),
        () => this.opened({ ok: false, code: 'SB_ERR_SERVER_UNAVAILABLE', detail: 'authentication error' }, from),
      );
    else this.opened(outcome, from);
  }

  private opened(o: LoginOutcome, from: string): void {
    const waiting = this.waiting ?? [];
    this.waiting = null;
    if (!o.ok) {
      this.logger.warn({ clientId: ANONYMOUS_CLIENT_ID, code: o.code }, `QoS -1 publishes refused: the gateway's login failed: ${o.detail}`);
      return;
    }
    const info = clientInfo(ANONYMOUS_CLIENT_ID, o.identity, o.app.id, 'mqttsn', 'udp', 'gateway');
    const done = (c: Client | Refusal): void => {
      if (isRefusal(c)) {
        this.logger.warn({ clientId: ANONYMOUS_CLIENT_ID, code: c.code }, `QoS -1 publishes refused: ${c.detail}`);
        return;
      }
      this.client = c;
      for (const w of waiting) this.send(c, w.topic, w.payload, w.retain, from);
    };
    const opened = openClient(o.app, { info, cleanStart: true, expiry: 0, will: null, protocolVersion: '1.2', log: this.logger }, this);
    if (opened instanceof Promise) opened.then(done, () => undefined);
    else done(opened);
  }

  private send(client: Client, topic: string, payload: Buffer, retain: boolean, from: string): void {
    const msg: Message = createMessage(topic, payload, 0, retain, null, 0, client.info);
    const r = client.publish(msg);
    const refused = (a: unknown): void => {
      if (isRefusal(a)) this.logger.debug({ clientId: ANONYMOUS_CLIENT_ID, from, topic, code: a.code }, `QoS -1 publish refused: ${a.detail}`);
    };
    if (r instanceof Promise) r.then(refused, () => undefined);
    else refused(r);
  }

  // ---- SessionLink: it never subscribes; what comes to it ($inbox) is nobody's -------------

  deliver(msg: Message, _qos: QoS): void {
    this.client?.app.router.reportDrop(this.client.session, msg, 'offline');
  }

  close(reason: CloseReason): void {
    const c = this.client;
    this.client = null; // opened again by the next QoS -1 message
    c?.detach(CLOSE_REASONS[reason].presence, false, CLOSE_REASONS[reason].code);
  }

  pump(): void {
    /* nothing is queued for it */
  }

  /** Broker shutdown. */
  shutdown(): void {
    this.close('shutdown');
  }
}
