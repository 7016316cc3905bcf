import { cm360Spec } from '../../shared/providers/cm360/spec.ts';
import { providerFunction } from '../../shared/runtime/provider-function.ts';

export const handler = providerFunction('cm360-invoices', cm360Spec);
