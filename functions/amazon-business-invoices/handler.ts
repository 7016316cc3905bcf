import { amazonBusinessSpec } from '../../shared/providers/amazon-business/spec.ts';
import { providerFunction } from '../../shared/runtime/provider-function.ts';

export const handler = providerFunction('amazon-business-invoices', amazonBusinessSpec);
