/** Structured logs (pino) on stderr: JSON, or human-readable (pino-pretty) on a terminal. */
import { pino } from 'pino';
import type { Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogConfig } from './config/types.js';

export function createLogger(cfg: LogConfig): Logger {
  if (cfg.pretty) {
    return pino({ level: cfg.level }, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino({ level: cfg.level }, pino.destination({ fd: 2, sync: false }));
}
