import { spApiModule } from '../../shared/providers/sp-api/index.ts';
import type { ProviderModule } from '../../shared/providers/types.ts';
import { providerFunction } from '../../shared/runtime/provider-function.ts';

export const handler = providerFunction('sp-api-invoices', spApiModule as ProviderModule);
