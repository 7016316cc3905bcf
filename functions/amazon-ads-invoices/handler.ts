import { amazonAdsModule } from '../../shared/providers/amazon-ads/index.ts';
import { providerFunction } from '../../shared/runtime/provider-function.ts';

export const handler = providerFunction('amazon-ads-invoices', amazonAdsModule);
