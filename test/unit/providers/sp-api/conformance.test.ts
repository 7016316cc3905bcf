import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specHttp } from '../../../../shared/engine/spec-http.ts';
import { budgetUntil } from '../../../../shared/http/budget.ts';
import { ProviderError } from '../../../../shared/http/errors.ts';
import { resetBuckets } from '../../../../shared/http/token-bucket.ts';
import * as api from '../../../../shared/providers/sp-api/api.ts';
import { send } from '../../../../shared/providers/sp-api/http.ts';
import {
  createExportResponseSchema,
  exportResponseSchema,
  exportsPageSchema,
  invoiceResponseSchema,
  invoiceSchema,
  invoicesAttributesResponseSchema,
  invoicesDocumentResponseSchema,
  invoicesPageSchema,
} from '../../../../shared/providers/sp-api/schemas.ts';
import { type SpApiConnection, spApiSpec } from '../../../../shared/providers/sp-api/spec.ts';
import type { ProviderHttp } from '../../../../shared/providers/types.ts';
import { startServer, type TestServer } from '../../../helpers/http-server.ts';

/**
 * The model's `x-amzn-api-sandbox` static examples, replayed: for each example of the seven operations
 * the ingest uses, the request the client builds (builder + HTTP client) must be the example's request,
 * and the example's answer must parse (a 2xx with the answer schema, an error as a ProviderError with the
 * provider's code, sent once: a 400 is not retried). The model is a copy of the official
 * InvoicesApiModel_2024-06-19.json (amzn/selling-partner-api-models), JSON-identical, reformatted.
 */

interface Example {
  request: { parameters: Record<string, { value: unknown }> };
  response: unknown;
}
interface Operation {
  operationId: string;
  parameters?: Array<{ name: string; in: 'query' | 'path' | 'body'; required?: boolean }>;
  responses: Record<string, { 'x-amzn-api-sandbox'?: { static: Example[] } }>;
}

const model = JSON.parse(
  readFileSync(
    new URL('../../../../shared/providers/sp-api/InvoicesApiModel_2024-06-19.json', import.meta.url),
    'utf8',
  ),
) as { paths: Record<string, Record<string, Operation>> };

const USED = Object.keys(api.OPERATIONS) as api.OperationName[];

const operations = Object.entries(model.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
);

const cases = operations
  .filter((o) => USED.includes(o.op.operationId as api.OperationName))
  .flatMap((o) =>
    Object.entries(o.op.responses).flatMap(([status, r]) =>
      (r['x-amzn-api-sandbox']?.static ?? []).map((example, i) => ({
        name: `${o.op.operationId} ${status} #${i + 1}`,
        ...o,
        status: Number(status),
        example,
      })),
    ),
  );

/** The builder call for an operation, from the example's parameter values. */
function build(operation: api.OperationName, p: Record<string, unknown>): api.ApiRequest {
  switch (operation) {
    case 'getInvoicesAttributes':
      return api.getInvoicesAttributes(p as { marketplaceId: string });
    case 'getInvoices':
      return api.getInvoices(p as unknown as api.GetInvoicesParams);
    case 'getInvoice':
      return api.getInvoice(p as { invoiceId: string; marketplaceId: string });
    case 'createInvoicesExport':
      return api.createInvoicesExport(p.body as api.ExportRequestBody);
    case 'getInvoicesExports':
      return api.getInvoicesExports(p as unknown as api.GetInvoicesExportsParams);
    case 'getInvoicesExport':
      return api.getInvoicesExport(p as { exportId: string });
    case 'getInvoicesDocument':
      return api.getInvoicesDocument(p as { invoicesDocumentId: string });
  }
}

const SCHEMAS = {
  getInvoicesAttributes: invoicesAttributesResponseSchema,
  getInvoices: invoicesPageSchema,
  getInvoice: invoiceResponseSchema,
  createInvoicesExport: createExportResponseSchema,
  getInvoicesExports: exportsPageSchema,
  getInvoicesExport: exportResponseSchema,
  getInvoicesDocument: invoicesDocumentResponseSchema,
} as const;

/** Query values as the model means them: arrays in Swagger 2.0's default csv format. */
function expectedQuery(op: Operation, params: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const def of op.parameters ?? []) {
    if (def.in !== 'query' || !(def.name in params)) continue;
    const v = params[def.name];
    out[def.name] = Array.isArray(v) ? v.join(',') : String(v);
  }
  return out;
}

describe('SP-API model examples (x-amzn-api-sandbox), replayed', () => {
  let server: TestServer;
  let http: ProviderHttp;
  let answer: { status: number; body: unknown } = { status: 200, body: {} };

  beforeAll(async () => {
    server = await startServer((_req, res) => {
      const text = JSON.stringify(answer.body);
      res.writeHead(answer.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    });
    const connection = {
      id: 'conformance',
      provider: 'sp-api',
      region: 'NA',
      secretName: 'x',
      scopes: ['A2Q3Y263D00KWC'],
      schedule: 'rate(1 day)',
      lookbackDays: 1,
      filters: {},
      pageSize: 100,
      existingSecret: false,
      enabled: true,
      endpoints: { api: server.url },
    } as SpApiConnection;
    http = specHttp(
      'sp-api',
      spApiSpec.client,
      connection,
      { clientId: 'c', clientSecret: 's', refreshToken: 'r' },
      {
        budget: budgetUntil(Date.now() + 60_000),
        log: { debug() {}, info() {}, warn() {}, error() {} },
        onEvent: () => {},
        allowLoopback: true,
        extraDownloadHosts: [],
        deferThresholdMs: 5_000,
      },
      {
        auth: {
          style: 'x-amz-access-token',
          tokens: { get: async () => 'Atza|conformance', invalidate() {} },
        },
      },
    );
  });
  afterAll(async () => {
    await server?.close();
    resetBuckets();
  });

  it('covers every operation the ingest calls, with at least one success example each', () => {
    const withSuccess = new Set(cases.filter((c) => c.status < 300).map((c) => c.op.operationId));
    expect([...withSuccess].sort()).toEqual([...USED].sort());
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    resetBuckets();
    const operation = c.op.operationId as api.OperationName;
    const params = Object.fromEntries(
      Object.entries(c.example.request.parameters).map(([k, v]) => [k, v.value]),
    );
    const missingPath = (c.op.parameters ?? []).some((d) => d.in === 'path' && !(d.name in params));
    const missingBody = (c.op.parameters ?? []).some((d) => d.in === 'body' && !(d.name in params));
    answer = { status: c.status, body: c.example.response };
    const before = server.requests.length;

    if (missingPath || missingBody) {
      // The builders' types make such a request impossible; the example's answer must still read as the
      // provider's error when it comes.
      const err = await send(http, {
        operation,
        method: 'GET',
        path: '/tax/invoices/2024-06-19/attributes',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).code).toBe('400');
      return;
    }

    const req = build(operation, params);
    const result = await send(http, req, SCHEMAS[operation]).catch((e: unknown) => e);
    const seen = server.requests.slice(before);
    expect(seen, 'sent once: an error answer is not retried').toHaveLength(1);
    const sent = seen[0]!;
    const url = new URL(sent.url, server.url);

    expect(sent.method).toBe(c.method);
    const path = c.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String(params[name])));
    expect(url.pathname).toBe(path);
    expect(Object.fromEntries(url.searchParams)).toEqual(expectedQuery(c.op, params));
    expect([...url.searchParams.keys()].length).toBe(new Set(url.searchParams.keys()).size);
    if (params.body !== undefined) {
      expect(sent.headers['content-type']).toBe('application/json');
      expect(JSON.parse(sent.body)).toEqual(params.body);
    } else {
      expect(sent.body).toBe('');
    }
    expect(sent.headers['x-amz-access-token']).toBe('Atza|conformance');

    if (c.status < 300) {
      expect(result).not.toBeInstanceOf(Error);
      expect((result as { data: unknown }).data).toEqual(c.example.response);
      if (operation === 'getInvoices') {
        for (const inv of (c.example.response as { invoices: unknown[] }).invoices) {
          expect(invoiceSchema.safeParse(inv).success).toBe(true);
        }
      }
    } else {
      expect(result).toBeInstanceOf(ProviderError);
      const err = result as ProviderError;
      const first = (
        c.example.response as { errors: Array<{ code: string; message: string; details: string }> }
      ).errors[0]!;
      expect(err.status).toBe(c.status);
      expect(err.code).toBe(first.code);
      expect(err.providerMessage).toBe(first.message);
      expect(err.details).toBe(first.details);
      expect(err.retryable).toBe(false);
    }
  });
});
