import { billingStatementKey } from '../../aws/keys.ts';
import type { PollMessage, Window } from '../../jobs/messages.ts';
import type { ExportCheck, OpenedDocument, ProviderContext } from '../types.ts';
import {
  createStatementAnswerSchema,
  HEADERS,
  MEDIA,
  OP,
  type StatementStatus,
  statementStatusSchema,
} from './api.ts';
import { CsvRowCounter } from './csv-rows.ts';
import type { AdsConnection } from './spec.ts';

type Ctx = ProviderContext<AdsConnection>;

/** A statement not done this long after its creation is given up (the poller's deadline). */
export const STATEMENT_DEADLINE_MS = 6 * 3_600_000;

export function accountOf(ctx: Ctx): string {
  const account = ctx.connection.globalAccountId;
  if (!account) {
    throw Object.assign(
      new Error(
        `connection "${ctx.connection.id}" has no globalAccountId: the billing statements report needs one`,
      ),
      { name: 'ConfigError', retryable: false },
    );
  }
  return account;
}

/** YYYY-MM-DD -> yyyyMMdd (Amazon Ads' compact dates). */
export function compactDate(day: string): string {
  return day.replace(/-/g, '');
}

type DateFormat = 'yyyyMMdd' | 'yyyy-MM-dd';

/** A 400 that says the dates should have been the other format (the model's schema and its own error example disagree). */
function isDateFormatRefusal(err: unknown): boolean {
  const e = err as { name?: string; status?: number; message?: string };
  return (
    e?.name === 'ProviderError' &&
    e.status === 400 &&
    /date/i.test(e.message ?? '') &&
    /format/i.test(e.message ?? '')
  );
}

/**
 * POST /billingStatements. Dates go as yyyyMMdd, what the guide and the model's own 400 example
 * ("startDate must be in yyyyMMdd format") say; should the API refuse that format, as the schema's
 * YYYY-MM-DD pattern would have it, the request is sent once more with YYYY-MM-DD.
 */
export async function createStatement(ctx: Ctx, account: string, window: Window) {
  const body = (format: DateFormat) => ({
    startDate: format === 'yyyyMMdd' ? compactDate(window.from) : window.from,
    endDate: format === 'yyyyMMdd' ? compactDate(window.to) : window.to,
    locale: ctx.connection.locale,
    format: 'CSV',
    ...(ctx.connection.countryCodes?.length ? { countryCodes: ctx.connection.countryCodes } : {}),
  });
  const send = (format: DateFormat) =>
    ctx.http.request(OP.createStatement, {
      method: 'POST',
      path: '/billingStatements',
      json: body(format),
      contentType: MEDIA.statements,
      headers: { [HEADERS.account]: account, accept: MEDIA.statements },
      schema: createStatementAnswerSchema,
    });
  let format: DateFormat = 'yyyyMMdd';
  let res: Awaited<ReturnType<typeof send>>;
  try {
    res = await send(format);
  } catch (err) {
    if (!isDateFormatRefusal(err)) throw err;
    ctx.log.warn('billing statement dates refused as yyyyMMdd, sending YYYY-MM-DD', {
      error: (err as Error).message,
    });
    format = 'yyyy-MM-dd';
    res = await send(format);
  }
  const exportId = (res.data.billingStatementRequestId ?? res.data.billingStatementId)!;
  return {
    exportId,
    details: { dateFormat: format, ...(res.data.details ? { createDetails: res.data.details } : {}) },
  };
}

async function getStatement(ctx: Ctx, statementId: string): Promise<StatementStatus> {
  const res = await ctx.http.request(OP.getStatement, {
    path: `/billingStatements/${encodeURIComponent(statementId)}`,
    headers: { [HEADERS.account]: accountOf(ctx), accept: MEDIA.statements },
    schema: statementStatusSchema,
  });
  return res.data;
}

export async function checkStatement(message: PollMessage, ctx: Ctx): Promise<ExportCheck> {
  const status = await getStatement(ctx, message.exportId);
  switch (status.reportStatus) {
    case 'SUCCESS':
      return { state: 'DONE', documentIds: [message.exportId] };
    case 'FAILED':
      return {
        state: 'FAILED',
        code: status.code ?? 'BILLING_STATEMENT_FAILED',
        message: status.details ?? 'the billing statement failed without details',
      };
    case 'IN_PROGRESS':
      return { state: 'PENDING', ...(status.details ? { detail: status.details } : {}) };
    default:
      ctx.log.warn('billing statement in an unknown state, polling on', {
        reportStatus: status.reportStatus,
      });
      return { state: 'PENDING', detail: `unknown reportStatus ${status.reportStatus}` };
  }
}

/**
 * Opens the statement's CSV for the poller's copy: a fresh s3DownloadLink on every call (they are
 * pre-signed), rows counted as the bytes stream past, and the count recorded once the copy has landed.
 */
export async function openStatement(
  message: PollMessage,
  documentId: string,
  ctx: Ctx,
): Promise<OpenedDocument> {
  const record = await ctx.state.getExport(message.exportKey);
  const startDate = record?.details?.startDate;
  const endDate = record?.details?.endDate;
  if (typeof startDate !== 'string' || typeof endDate !== 'string') {
    throw Object.assign(new Error(`export ${message.exportKey} has no window in its details`), {
      retryable: false,
    });
  }
  const status = await getStatement(ctx, documentId);
  if (status.reportStatus !== 'SUCCESS' || !status.s3DownloadLink) {
    throw new Error(
      `billing statement ${documentId} has no download link (reportStatus ${status.reportStatus})`,
    );
  }
  const response = await ctx.http.download(OP.downloadStatement, status.s3DownloadLink);
  const counter = new CsvRowCounter();
  return {
    key: billingStatementKey(ctx.connection.id, startDate, endDate, documentId),
    operation: OP.downloadStatement,
    response: { ...response, contentType: response.contentType ?? 'text/csv' },
    counter: 'reports',
    onChunk: (chunk) => counter.push(chunk),
    after: async () => {
      const rows = counter.rows();
      ctx.count('rows', rows);
      await ctx.state.setWatermark('amazon-ads', ctx.connection.id, message.scope, endDate);
      return { rows };
    },
  };
}
