import type { ProviderId } from '../config/schema.ts';
import type { ProviderSpec } from '../engine/provider-spec.ts';
import { amazonAdsSpec } from './amazon-ads/spec.ts';
import { amazonBusinessSpec } from './amazon-business/spec.ts';
import { cm360Spec } from './cm360/spec.ts';
import { spApiSpec } from './sp-api/spec.ts';

/**
 * Provider specs by id. A provider is listed here once its spec exists; the export poller serves the
 * ones with an export job. Functions import their own spec directly so bundles stay small.
 */
export const PROVIDER_SPECS: Partial<Record<ProviderId, ProviderSpec>> = {
  'amazon-ads': amazonAdsSpec as unknown as ProviderSpec,
  'amazon-business': amazonBusinessSpec as unknown as ProviderSpec,
  'sp-api': spApiSpec as unknown as ProviderSpec,
  cm360: cm360Spec as unknown as ProviderSpec,
};

export const EXPORT_SPECS: Partial<Record<ProviderId, ProviderSpec>> = Object.fromEntries(
  Object.entries(PROVIDER_SPECS).filter(([, s]) => s?.jobs.some((j) => j.kind === 'export')),
);
