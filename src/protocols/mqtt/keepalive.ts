/**
 * Keepalive for every MQTT connection in the process: one interval sweeps the connections
 * that have a keepalive, instead of a Timeout and a closure per connection (about 230 bytes
 * each, which an idle fleet of 100k devices pays in full). The sweep makes the close up to
 * SWEEP_MS late, well inside what [MQTT-3.1.2-24] asks ("one and a half times" the period,
 * which is itself coarse), as Mosquitto's periodic check does.
 *
 * Invariant: the timer runs only while some connection is watched.
 */
export interface KeepAliveWatched {
  /** Close the connection if it has been silent too long at `now` (ms). */
  keepAliveCheck(now: number): void;
}

export const SWEEP_MS = 500;

const watched = new Set<KeepAliveWatched>();
let timer: NodeJS.Timeout | null = null;

function sweep(): void {
  const now = Date.now();
  // Deleting the current entry of a Set while iterating it is safe.
  for (const c of watched) c.keepAliveCheck(now);
}

export function watchKeepAlive(c: KeepAliveWatched): void {
  watched.add(c);
  if (timer === null) {
    timer = setInterval(sweep, SWEEP_MS);
    timer.unref();
  }
}

export function unwatchKeepAlive(c: KeepAliveWatched): void {
  if (!watched.delete(c) || watched.size > 0 || timer === null) return;
  clearInterval(timer);
  timer = null;
}
