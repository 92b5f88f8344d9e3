import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/** Upstream's levels (`""` = warnings and errors only) mapped onto pino's. */
const PINO_LEVELS: Record<LogLevel, pino.Level> = {
  '': 'warn',
  info: 'info',
  debug: 'debug',
  trace: 'trace',
  all: 'trace',
};

/**
 * The one root logger: JSON lines, `err` serialised, the authorization header
 * and anything token-like redacted. Components take `child({ component })`.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level: PINO_LEVELS[level],
      base: { service: 'wi-admission' },
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', '*.token', '*.key', 'token', 'key'],
        censor: '[redacted]',
      },
      serializers: { err: pino.stdSerializers.err },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
