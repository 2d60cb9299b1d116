/**
 * Structured logs (pino) on stderr: JSON, or human-readable (pino-pretty) on a terminal.
 *
 * One field vocabulary: the connection lines ('client connected', 'client disconnected',
 * 'client refused') are written by the core, once for every protocol (core/clients.ts
 * ConnectionLog): clientId, app, login, profile, protocol, protocolVersion, transport,
 * remoteAddress, sessionPresent, reason, code, durationMs, detail.
 */
import { write, writeSync } from 'node:fs';
import { pino } from 'pino';
import type { Logger, LoggerOptions } from 'pino';
import pretty from 'pino-pretty';
import type { LogConfig } from './config/types.js';

/**
 * A field named `level` would give the line a second `level` key after pino's own, and JSON
 * parsers keep the last (a protocol level of 4 read as the severity): such a field is kept as
 * `_level`. One `in` check per line; a copy only when the field is there.
 */
export function withoutLevelField(fields: Record<string, unknown>): Record<string, unknown> {
  if (!('level' in fields)) return fields;
  const { level, ...rest } = fields;
  return { ...rest, _level: level };
}

/** The pino options of the broker's logger at `level`. */
export function loggerOptions(level: string): LoggerOptions {
  return { level, formatters: { log: withoutLevelField } };
}

export function createLogger(cfg: LogConfig): Logger {
  if (cfg.pretty) {
    return pino(loggerOptions(cfg.level), pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino(loggerOptions(cfg.level), new LogDestination(2));
}

/** Retries of a full log pipe at exit, and the wait between them: at most ~100 ms in all. */
const EXIT_RETRIES = 20;
const EXIT_RETRY_MS = 5;

/**
 * Where the JSON log lines go (stderr), written so that the log's reader can never stop the
 * broker: lines are written asynchronously, one write in flight; while the reader is slow up to
 * `maxBytes` wait and further lines are dropped (counted); once the reader is gone (EPIPE,
 * EBADF, ...) every line is dropped. At exit what still waits gets one bounded synchronous try.
 * Hand-written because pino's own destination (sonic-boom 4) retries a failed synchronous flush
 * forever: a broker whose log reader had died hung in its exit handler after SIGTERM.
 */
export class LogDestination {
  /** Lines dropped: over `maxBytes` while the reader was slow, or after it was gone. */
  dropped = 0;
  private waiting: string[] = [];
  private waitingBytes = 0;
  /** The bytes of the write in flight (null: none). */
  private inFlight: Buffer | null = null;
  private gone = false;
  private drained: Array<() => void> = [];

  constructor(
    private readonly fd: number,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {
    process.once('exit', () => this.flushSync());
  }

  write(line: string): void {
    if (this.gone || this.waitingBytes + line.length > this.maxBytes) {
      this.dropped++;
      return;
    }
    this.waiting.push(line);
    this.waitingBytes += line.length;
    if (this.inFlight === null) this.next();
  }

  /** pino's logger.flush(cb): `cb` once everything written so far is written (or dropped). */
  flush(cb?: (err?: Error) => void): void {
    if (cb === undefined) return;
    if (this.inFlight === null && this.waiting.length === 0) cb();
    else this.drained.push(() => cb());
  }

  private next(): void {
    if (this.gone || this.waiting.length === 0) {
      this.inFlight = null;
      for (const cb of this.drained.splice(0)) cb();
      return;
    }
    this.send(Buffer.from(this.waiting.join('')));
    this.waiting = [];
    this.waitingBytes = 0;
  }

  private send(buf: Buffer): void {
    this.inFlight = buf;
    write(this.fd, buf, 0, buf.length, null, (err, n) => {
      if (err === null) {
        if (n < buf.length) this.send(buf.subarray(n));
        else this.next();
      } else if (err.code === 'EAGAIN') {
        setTimeout(() => this.send(buf), 10).unref(); // a slow reader: try again, never block
      } else this.giveUp();
    });
  }

  private giveUp(): void {
    this.gone = true;
    this.dropped += this.waiting.length;
    this.waiting = [];
    this.waitingBytes = 0;
    this.inFlight = null;
    for (const cb of this.drained.splice(0)) cb();
  }

  /**
   * At exit (no event loop left): what waits, written synchronously, giving up on any error and
   * after ~100 ms of a full pipe. Skipped while a write is in flight: its reader is not keeping
   * up, and a blocking descriptor would block the exit.
   */
  flushSync(): void {
    if (this.gone || this.inFlight !== null || this.waiting.length === 0) return;
    let buf = Buffer.from(this.waiting.join(''));
    this.waiting = [];
    this.waitingBytes = 0;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let tries = 0; buf.length > 0; ) {
      try {
        buf = buf.subarray(writeSync(this.fd, buf));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++tries > EXIT_RETRIES) return;
        Atomics.wait(pause, 0, 0, EXIT_RETRY_MS);
      }
    }
  }
}
