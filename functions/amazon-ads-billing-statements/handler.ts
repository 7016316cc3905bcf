import { providerFunction } from '../../shared/runtime/provider-function.ts';

// Not implemented yet: messages are validated and logged (README status table).
export const handler = providerFunction('amazon-ads-billing-statements', undefined);
