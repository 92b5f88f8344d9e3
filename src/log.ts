import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';
import { truncate } from './util/truncate.js';

/** Upstream's levels (`""` = warnings and errors only) mapped onto pino's. */
const PINO_LEVELS: Record<LogLevel, pino.Level> = {
  '': 'warn',
  info: 'info',
  debug: 'debug',
  trace: 'trace',
  all: 'trace',
};

/** Container runtimes split longer lines, which breaks JSON log pipelines (16 KiB, newline excluded). */
export const MAX_LOG_LINE_BYTES = 16 * 1024 - 1;
/** In a line that was too long: the most characters kept of each string, items of each list, keys of each object. */
const SHRUNK_STRING_CHARS = 512;
const SHRUNK_ITEMS = 16;
const SHRUNK_DEPTH = 4;

/**
 * The one root logger: JSON lines, `err` serialised, the authorization header
 * and anything token-like redacted. Components take `child({ component })`.
 * Request values are cut where they are logged; every line is also held
 * under MAX_LOG_LINE_BYTES here, whatever went into it.
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
      hooks: { streamWrite: boundLogLine },
    },
    destination,
  );
}

export type { Logger };

/**
 * The line as it is, or — only when it is too long — the same line with its
 * strings, lists and objects cut (`logLineCut` gives the original size);
 * if that is still too long, its level, time and message alone.
 */
export function boundLogLine(line: string): string {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: nearly every line is decided by its length.
  if (line.length * 3 <= MAX_LOG_LINE_BYTES + 1) return line;
  const bytes = Buffer.byteLength(line) - (line.endsWith('\n') ? 1 : 0);
  if (bytes <= MAX_LOG_LINE_BYTES) return line;
  const entry = JSON.parse(line) as Record<string, unknown>;
  const shrunk = `${JSON.stringify({ ...(shrink(entry, 0) as Record<string, unknown>), logLineCut: { bytes } })}\n`;
  if (Buffer.byteLength(shrunk) <= MAX_LOG_LINE_BYTES + 1) return shrunk;
  const { level, time, service, msg } = entry;
  return `${JSON.stringify({ level, time, service, msg: shrink(msg, SHRUNK_DEPTH), logLineCut: { bytes } })}\n`;
}

function shrink(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return truncate(value, SHRUNK_STRING_CHARS);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= SHRUNK_DEPTH) return '[cut]';
  if (Array.isArray(value)) return value.slice(0, SHRUNK_ITEMS).map((item) => shrink(item, depth + 1));
  // No prototype: a `__proto__` key from the line stays a key.
  const out = Object.create(null) as Record<string, unknown>;
  let kept = 0;
  for (const [key, item] of Object.entries(value)) {
    if (kept++ === SHRUNK_ITEMS * 4) break;
    out[truncate(key, SHRUNK_STRING_CHARS)] = shrink(item, depth + 1);
  }
  return out;
}
