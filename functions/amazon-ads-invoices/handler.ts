import { amazonAdsSpec } from '../../shared/providers/amazon-ads/spec.ts';
import { providerFunction } from '../../shared/runtime/provider-function.ts';

export const handler = providerFunction('amazon-ads-invoices', amazonAdsSpec);
