import type { ProviderModule } from '../types.ts';
import { type AdsConnection, adsHttp, parseAdsSecret } from './http.ts';
import { fetchInvoices, runInvoices } from './invoices.ts';
import { checkStatement, openStatement, runStatements } from './statements.ts';

export const BILLING_STATEMENTS_JOB = 'billing-statements';

/**
 * Amazon Ads: invoices (profiles -> summaries -> details -> documents) on amazon-ads-invoices, and the
 * global invoicing report (billing statements, an export) on amazon-ads-billing-statements and the poller.
 */
export const amazonAdsModule: ProviderModule<AdsConnection> = {
  id: 'amazon-ads',
  parseSecret: parseAdsSecret,
  http: adsHttp,
  run: (message, ctx) =>
    message.job === BILLING_STATEMENTS_JOB ? runStatements(message, ctx) : runInvoices(message, ctx),
  fetch: fetchInvoices,
  exports: { check: checkStatement, open: openStatement },
};

export default amazonAdsModule;
