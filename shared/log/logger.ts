import { Logger } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions, LogLevel } from '@aws-lambda-powertools/logger/types';
import type { Log } from '../providers/types.ts';
import { redactingReplacer } from './redact.ts';

export type { LogLevel };

/**
 * A Powertools logger whose every output line passes through redaction: the replacer sees each key and value
 * (message, extra attributes, error fields, nested objects) before the line is written, so code that logs
 * through it cannot leak a token, secret or URL signature. Child loggers inherit the replacer.
 */
export function createLogger(
  serviceName: string,
  opts: { logLevel?: LogLevel; persistentKeys?: ConstructorOptions['persistentKeys'] } = {},
): Logger {
  return new Logger({
    serviceName,
    ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
    ...(opts.persistentKeys ? { persistentKeys: opts.persistentKeys } : {}),
    jsonReplacerFn: redactingReplacer,
  });
}

/**
 * The provider-facing Log over a Powertools logger. Powertools' extra-argument tuple does not accept an
 * optional `undefined`, so a Logger is not a Log as is.
 */
export function asLog(logger: Logger): Log {
  const level =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, extra?: Record<string, unknown>): void => {
      if (extra) logger[method](message, extra);
      else logger[method](message);
    };
  return { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
}
