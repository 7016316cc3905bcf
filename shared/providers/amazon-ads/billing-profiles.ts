import { rawPayloadKey } from '../../aws/keys.ts';
import { describeIssues } from '../../engine/issues.ts';
import { rawOf } from '../../engine/provider-spec.ts';
import { storeRaw, storeRawOnce } from '../../engine/store-raw.ts';
import { PayloadError } from '../../http/errors.ts';
import type { ProviderContext } from '../types.ts';
import { OP, profilesSchema } from './api.ts';
import { parseExactJson } from './exact-json.ts';
import type { AdsConnection } from './spec.ts';

/** Where answers that belong to no profile are kept (raw/amazon-ads/<connection>/_discovery/_payloads/). */
export const DISCOVERY_SCOPE = '_discovery';

/**
 * GET /v2/profiles?apiProgram=billing, its answer kept raw as it came (written only when its bytes
 * changed), then parsed. Discovery lists the scopes from it; control totals, each profile's country.
 */
export async function billingProfiles(ctx: ProviderContext<AdsConnection>) {
  const key = rawPayloadKey('amazon-ads', ctx.connection.id, DISCOVERY_SCOPE, 'profiles-billing');
  let res: Awaited<ReturnType<typeof ctx.http.request>>;
  try {
    res = await ctx.http.request(OP.listProfiles, {
      path: '/v2/profiles',
      query: { apiProgram: 'billing' },
    });
  } catch (err) {
    // An answer that is not JSON is still kept as it came before the run stops on it.
    if (err instanceof PayloadError)
      await storeRaw(ctx, key, { body: err.rawBody, operation: OP.listProfiles });
    throw err;
  }
  await storeRawOnce(ctx, key, rawOf(res, OP.listProfiles));
  const parsed = profilesSchema.safeParse(parseExactJson(res.rawBody));
  if (!parsed.success) throw new PayloadError(OP.listProfiles, res.rawBody, describeIssues(parsed.error));
  return parsed.data;
}

/**
 * Each billing profile's country, as the profiles answer states it: invoices carry no country, and the
 * billing statement has no profile, so this is what ties the two together.
 */
export async function profileCountries(
  ctx: ProviderContext<AdsConnection>,
): Promise<Map<string, string | undefined>> {
  const profiles = await billingProfiles(ctx);
  return new Map(profiles.map((p) => [String(p.profileId), p.countryCode?.toUpperCase()]));
}
