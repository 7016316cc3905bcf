import { describeIssues } from '../../engine/issues.ts';
import { PayloadError } from '../../http/errors.ts';
import type { ProviderContext } from '../types.ts';
import { OP, profilesSchema } from './api.ts';
import { parseExactJson } from './exact-json.ts';
import type { AdsConnection } from './spec.ts';

/**
 * Each billing profile's country, as GET /v2/profiles?apiProgram=billing states it: invoices carry no
 * country, and the billing statement has no profile, so this is what ties the two together.
 */
export async function profileCountries(
  ctx: ProviderContext<AdsConnection>,
): Promise<Map<string, string | undefined>> {
  const res = await ctx.http.request(OP.listProfiles, {
    path: '/v2/profiles',
    query: { apiProgram: 'billing' },
  });
  const parsed = profilesSchema.safeParse(parseExactJson(res.rawBody));
  if (!parsed.success) throw new PayloadError(OP.listProfiles, res.rawBody, describeIssues(parsed.error));
  return new Map(parsed.data.map((p) => [String(p.profileId), p.countryCode?.toUpperCase()]));
}
