/**
 * DISCONNECT (MQTT-SN 1.2 sections 5.4.21, 6.12, 6.14). Without a Duration: answered with
 * DISCONNECT, a clean end (no will). With one: the client sleeps, answered with DISCONNECT; its
 * session stays and deliveries are buffered (mqttsn.maxBufferedPerSleeper) until it wakes; a
 * sleeper silent for 1.5 x its Duration is lost (its will is published). A Duration of 0 is
 * taken as a plain DISCONNECT.
 */
import type { Disconnect } from '../packets.js';
import type { MqttSnConnection } from '../connection.js';

export function handleDisconnect(c: MqttSnConnection, p: Disconnect): void {
  if (p.duration !== null && p.duration > 0) {
    c.sleep(p.duration);
    c.send({ type: 'DISCONNECT', duration: null });
    return;
  }
  c.cleanDisconnect = true;
  c.endReason = 'clean';
  const info = c.client?.info;
  if (info !== undefined) c.app?.hooks.onDisconnect?.(info);
  c.send({ type: 'DISCONNECT', duration: null });
  c.end();
}
