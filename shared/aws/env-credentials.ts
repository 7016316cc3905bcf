import type { AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * The AWS SDK's default credential provider, for the Lambda bundles only: infra/aws/functions.ts aliases
 * `@aws-sdk/credential-provider-node` to this file. Lambda gives a function its role's credentials in these
 * environment variables, the first place the SDK's own chain looks; the rest of that chain (profiles, SSO,
 * web identity, ECS, IMDS, and the STS and SSO clients they use) never runs there but was 100 KB of every
 * bundle. Everything else (tests, `npm start`) runs the SDK's own chain.
 */
export function defaultProvider(): AwsCredentialIdentityProvider {
  return async () => {
    const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey) {
      throw new Error('no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set');
    }
    const {
      AWS_SESSION_TOKEN: token,
      AWS_CREDENTIAL_EXPIRATION: expiry,
      AWS_ACCOUNT_ID: account,
    } = process.env;
    return {
      accessKeyId,
      secretAccessKey,
      ...(token ? { sessionToken: token } : {}),
      ...(expiry ? { expiration: new Date(expiry) } : {}),
      ...(account ? { accountId: account } : {}),
    };
  };
}
