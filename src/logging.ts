/**
 * Structured logs (pino) on stderr: JSON, or human-readable (pino-pretty) on a terminal.
 *
 * One field vocabulary: the connection lines ('client connected', 'client disconnected',
 * 'client refused') are written by the core, once for every protocol (core/clients.ts
 * ConnectionLog): clientId, app, login, profile, protocol, protocolVersion, transport,
 * remoteAddress, sessionPresent, reason, code, durationMs, detail.
 */
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
  return pino(loggerOptions(cfg.level), pino.destination({ fd: 2, sync: false }));
}
