import type { ProviderId } from '../config/schema.ts';
import { amazonAdsModule } from './amazon-ads/index.ts';
import { spApiModule } from './sp-api/index.ts';
import type { ProviderModule } from './types.ts';

/**
 * Provider modules by id. A provider is listed here once its module exists; the export poller serves
 * the ones with `exports`. Functions import their own module directly so bundles stay small.
 */
export const PROVIDER_MODULES: Partial<Record<ProviderId, ProviderModule>> = {
  'amazon-ads': amazonAdsModule as ProviderModule,
  'sp-api': spApiModule as ProviderModule,
};

export const EXPORT_MODULES: Partial<Record<ProviderId, ProviderModule>> = Object.fromEntries(
  Object.entries(PROVIDER_MODULES).filter(([, m]) => m?.exports),
);
