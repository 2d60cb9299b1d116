/**
 * MQTT keepalive [MQTT-3.1.2-24]: a connection that sends no packet for one and a half times its
 * Keep Alive is closed (v5: DISCONNECT 0x8D first).
 *
 * Served by the broker's sweep (core/clock.ts), not by a timer per connection: a connection with
 * a keepalive is watched from its CONNACK to its close, a packet only stores its arrival time,
 * and every sweep period P (Sweep.periodFor: 500 ms unless STOMP heart-beats ask for less)
 * the watched connections are checked. So the close comes between 1.5 x Keep Alive and
 * 1.5 x Keep Alive + P after the last packet, never before; P is a third of the grace of the
 * shortest keepalive (1 s) and well inside the coarseness of the rule itself, as with
 * Mosquitto's periodic check. A connection without a keepalive (0) costs the sweep nothing.
 *
 * The connect timeout (mqtt.connectTimeoutMs from the accept to the CONNECT packet) is a
 * deadline in the same sweep, exact to the millisecond.
 */

/** Has a client with `keepAlive` seconds been silent too long at `now` (both ms since the epoch)? */
export function silentTooLong(now: number, lastActivity: number, keepAlive: number): boolean {
  return keepAlive !== 0 && now - lastActivity >= keepAlive * 1500;
}
