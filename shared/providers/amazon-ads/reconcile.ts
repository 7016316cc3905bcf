import { type Gap, type ReconcileInput, type RunScope, sameAmount } from '../../engine/reconciliation.ts';
import type { NormalizedInvoice } from '../../invoice/model.ts';
import type { Window } from '../../jobs/messages.ts';
import { profileCountries } from './billing-profiles.ts';
import type { AdsConnection } from './spec.ts';
import { readStatementInvoices, type StatementInvoice } from './statement-invoices.ts';

const INVOICES_JOB = 'invoices';
const STATEMENTS_JOB = 'billing-statements';

/**
 * Statuses of an invoice not yet invoiced (charges still accruing, tax not computed): the invoicing report
 * need not list them, so their absence from it is no gap. Listed there, they are compared all the same.
 */
const NOT_YET_INVOICED = new Set(['ACCUMULATING', 'PROCESSING']);

const permanent = (message: string) => Object.assign(new Error(message), { retryable: false });

const within = (day: string, w: Window) => day >= w.from && day <= w.to;

/**
 * Amazon Ads control totals: the run's billing statement (the global invoicing report, CSV) against the
 * invoices that landed through the invoices API, for the statement's window and the connection's countries.
 * Every invoice the report lists must have landed with the same total, tax and currency (`not-in-api`,
 * `amount-differs`), and every landed invoice must be in the report (`not-in-report`). A report the run
 * should have had and did not is `report-missing`; one that cannot be read, `report-unreadable`. Only the
 * report is held (one small record per invoice); the landed invoices are streamed from the table.
 */
export async function* reconcileAds(input: ReconcileInput<AdsConnection>): AsyncIterable<Gap> {
  const { ctx, scopes } = input;
  // Without a global account the statement is never asked for (its job is skipped, by configuration), so
  // there is no report to hold the invoices against: that is the connection's setting, not a gap of the run.
  const account = ctx.connection.globalAccountId;
  if (!account) return;
  const listings = scopes.filter((s) => s.job === INVOICES_JOB);
  const statements = scopes.filter((s) => s.job === STATEMENTS_JOB);
  if (!statements.length) {
    // The run landed invoices, and the statement it should have asked for with them never started.
    if (listings.length) {
      yield {
        code: 'report-missing',
        scope: account,
        field: 'billingStatement',
        expected: 'a billing statement for the run',
        found: null,
        message: 'the run covered no billing statement: its invoices were not checked against the report',
      };
    }
    return;
  }
  let countries: Map<string, string | undefined> | undefined;
  for (const statement of statements) {
    const report = new Map<string, StatementInvoice>();
    const complete = yield* readReport(input, statement, report);
    // A statement-only run (or one whose invoices were not listed) has nothing landed to compare with.
    if (!complete || !listings.length) continue;
    countries ??= await profileCountries(ctx);
    yield* compare(input, statement, listings, countries, report);
  }
}

/** The statement's CSV into `report`; false (with the gap said) when there is none to compare with. */
async function* readReport(
  input: ReconcileInput<AdsConnection>,
  statement: RunScope,
  report: Map<string, StatementInvoice>,
): AsyncGenerator<Gap, boolean> {
  const { ctx } = input;
  const { scope, window } = statement;
  const missing = (found: string | null, why: string): Gap => ({
    code: 'report-missing',
    scope,
    field: 'billingStatement',
    expected: `${window.from}..${window.to}`,
    found,
    message: `no billing statement to reconcile with: ${why}`,
  });
  const record = await input.exportOf(STATEMENTS_JOB, scope, window);
  if (!record) {
    yield missing(null, 'none was registered for the window');
    return false;
  }
  if (record.state !== 'DONE') {
    const error = record.error ? ` (${record.error.code}: ${record.error.message})` : '';
    yield missing(record.state, `statement ${record.exportId ?? '?'} ended ${record.state}${error}`);
    return false;
  }
  const copies = Object.values(record.copied);
  if (!copies.length) {
    yield missing(record.state, `statement ${record.exportId ?? '?'} is done but no CSV of it landed`);
    return false;
  }
  if (!ctx.sink.getStream) throw permanent('this sink cannot read a landed report back');
  const wanted = ctx.connection.countryCodes?.length ? new Set(ctx.connection.countryCodes) : undefined;
  for (const copy of copies) {
    const source = await ctx.sink.getStream(copy.key);
    if (!source) {
      yield missing(record.state, `its CSV is no longer at ${copy.key}`);
      return false;
    }
    const read = yield* readStatementInvoices(source, report, {
      scope,
      key: copy.key,
      ...(wanted ? { countries: wanted } : {}),
    });
    if (!read.complete) return false;
  }
  return true;
}

async function* compare(
  input: ReconcileInput<AdsConnection>,
  statement: RunScope,
  listings: readonly RunScope[],
  countries: ReadonlyMap<string, string | undefined>,
  report: Map<string, StatementInvoice>,
): AsyncIterable<Gap> {
  const wanted = input.ctx.connection.countryCodes?.length
    ? new Set(input.ctx.connection.countryCodes)
    : undefined;
  for (const listing of listings) {
    const country = countries.get(listing.scope);
    // A profile of a country the report was not asked for; one whose country is unknown is checked.
    if (wanted && country && !wanted.has(country)) continue;
    for await (const { invoice } of input.invoices(listing.scope, listing.window)) {
      if (!invoice.issuedOn || !within(invoice.issuedOn, statement.window)) continue;
      const stated = report.get(invoice.invoiceId);
      if (!stated) {
        if (invoice.status && NOT_YET_INVOICED.has(invoice.status)) continue;
        yield {
          code: 'not-in-report',
          scope: listing.scope,
          invoiceId: invoice.invoiceId,
          field: 'invoiceId',
          expected: null,
          found: invoice.invoiceId,
          message: `landed (${invoice.status}, issued ${invoice.issuedOn}${country ? `, ${country}` : ''}) but the billing statement does not list it`,
        };
        continue;
      }
      stated.matched = true;
      yield* differences(stated, invoice, listing.scope);
    }
  }
  const judge = coverage(statement, listings, countries);
  for (const stated of report.values()) {
    if (stated.matched) continue;
    if (stated.issuedOn && !within(stated.issuedOn, statement.window)) continue;
    const scope = judge(stated.country, stated.issuedOn);
    if (scope === undefined) continue;
    yield {
      code: 'not-in-api',
      scope,
      invoiceId: stated.invoiceId,
      field: 'invoiceId',
      expected: stated.invoiceId,
      found: null,
      message:
        scope === statement.scope
          ? `the billing statement lists it (${stated.country}), and no billing profile of ${stated.country} could land it`
          : `the billing statement lists it (${stated.country}, issued ${stated.issuedOn ?? '?'}), and the invoices API did not give it`,
    };
  }
}

/**
 * Which report invoices the run could have landed, and the scope to name in the gap: one of a country
 * whose every billing profile the run listed over its date (a run for some profiles says nothing about
 * the others), or one of a country no billing profile has when the run listed them all (the statement's
 * own scope, then). Undefined: the run did not cover it.
 */
function coverage(
  statement: RunScope,
  listings: readonly RunScope[],
  countries: ReadonlyMap<string, string | undefined>,
): (country: string, day: string | null) => string | undefined {
  const covers = (profile: string, day: string | null) =>
    listings.some((l) => l.scope === profile && (day === null || within(day, l.window)));
  const profiles = [...countries.keys()];
  return (country, day) => {
    const ofCountry = profiles.filter((p) => countries.get(p) === country);
    if (ofCountry.length) return ofCountry.every((p) => covers(p, day)) ? ofCountry[0] : undefined;
    return profiles.every((p) => covers(p, day)) ? statement.scope : undefined;
  };
}

function* differences(stated: StatementInvoice, invoice: NormalizedInvoice, scope: string): Iterable<Gap> {
  const differs = (field: string, expected: string | null, found: string | null): Gap => ({
    code: 'amount-differs',
    scope,
    invoiceId: invoice.invoiceId,
    field,
    expected,
    found,
    message: `the billing statement says ${field} ${expected ?? 'nothing'}, the invoices API ${found ?? 'nothing'}`,
  });
  if (!sameAmount(stated.total, invoice.total)) yield differs('total', stated.total, invoice.total);
  if (stated.tax !== null && !sameAmount(stated.tax, invoice.tax)) {
    yield differs('tax', stated.tax, invoice.tax);
  }
  if (stated.currency !== invoice.currency) yield differs('currency', stated.currency, invoice.currency);
}
