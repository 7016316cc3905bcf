import { spApiSpec } from '../../shared/providers/sp-api/spec.ts';
import { providerFunction } from '../../shared/runtime/provider-function.ts';

export const handler = providerFunction('sp-api-invoices', spApiSpec);
