/**
 * What `npm start`'s simulators serve beyond their own defaults. The demo run ends SUCCEEDED: Amazon
 * Business's null invoice details (a live quirk that resolves days later, and leaves the run PARTIAL
 * until then) are covered by the tests (test/integration/amazon-business-local-stack.test.ts), not
 * served here. Everything else the simulators do by default (consolidations still "Pending", line items
 * not invoiced yet within their grace period) is served: those are notes, not gaps. The switches that
 * serve control-totals gaps are off by default.
 */
export const LOCAL_SIMULATOR_OPTIONS: Record<string, Record<string, unknown>> = {
  'amazon-business': { nullDetailsShare: 0 },
};
