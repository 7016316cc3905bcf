import { createPrivateKey } from 'node:crypto';
import * as z from 'zod';

/** Login with Amazon app credentials and the seller's / advertiser's refresh token. */
export const lwaSecretSchema = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  refreshToken: z.string().min(1),
});
export type LwaSecret = z.infer<typeof lwaSecretSchema>;

export type GoogleRefreshSecret = { clientId: string; clientSecret: string; refreshToken: string };
export type GoogleServiceAccountSecret = { clientEmail: string; privateKey: string; tokenUri?: string };
/** Normalised to flat strings (the provider context holds a Record<string, string>). */
export type GoogleSecret = GoogleRefreshSecret | GoogleServiceAccountSecret;

export function isServiceAccount(secret: GoogleSecret): secret is GoogleServiceAccountSecret {
  return 'clientEmail' in secret;
}

const optionalString = z.string().min(1).optional();

const serviceAccountKeySchema = z.object({
  client_email: z.string().min(1),
  private_key: z.string().min(1),
  token_uri: z.url().optional(),
});

/** Key files stored through a shell or a console sometimes carry "\n" escaped; PEM needs real newlines. */
function normalisePem(key: string): string {
  return key.includes('\n') ? key : key.replace(/\\n/g, '\n');
}

function checkPem(key: string, path: (string | number)[], ctx: z.RefinementCtx): void {
  try {
    createPrivateKey(normalisePem(key));
  } catch {
    ctx.addIssue({ code: 'custom', path, message: 'not a PEM private key' });
  }
}

/**
 * Google credentials in one of three forms: an OAuth client with a refresh token
 * ({clientId, clientSecret, refreshToken}); a service-account key under `serviceAccount`; or the key file's
 * own JSON at the top level ({type: "service_account", client_email, private_key, token_uri}).
 */
export const googleSecretSchema = z
  .object({
    clientId: optionalString,
    clientSecret: optionalString,
    refreshToken: optionalString,
    serviceAccount: serviceAccountKeySchema.optional(),
    client_email: optionalString,
    private_key: optionalString,
    token_uri: z.url().optional(),
  })
  .superRefine((s, ctx) => {
    if (s.serviceAccount) {
      checkPem(s.serviceAccount.private_key, ['serviceAccount', 'private_key'], ctx);
      return;
    }
    if (s.client_email !== undefined || s.private_key !== undefined) {
      if (s.client_email === undefined)
        ctx.addIssue({ code: 'custom', path: ['client_email'], message: 'missing' });
      if (s.private_key === undefined)
        ctx.addIssue({ code: 'custom', path: ['private_key'], message: 'missing' });
      else checkPem(s.private_key, ['private_key'], ctx);
      return;
    }
    for (const field of ['clientId', 'clientSecret', 'refreshToken'] as const) {
      if (s[field] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: 'missing (or give a service account: serviceAccount.client_email/private_key)',
        });
      }
    }
  })
  .transform((s): GoogleSecret => {
    const sa =
      s.serviceAccount ??
      (s.client_email
        ? { client_email: s.client_email, private_key: s.private_key!, token_uri: s.token_uri }
        : undefined);
    if (sa) {
      return {
        clientEmail: sa.client_email,
        privateKey: normalisePem(sa.private_key),
        ...(sa.token_uri ? { tokenUri: sa.token_uri } : {}),
      };
    }
    return { clientId: s.clientId!, clientSecret: s.clientSecret!, refreshToken: s.refreshToken! };
  });
