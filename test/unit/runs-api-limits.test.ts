import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { API_THROTTLE, RunsApi } from '../../infra/aws/api.ts';
import { MAX_CONCURRENT_REQUESTS } from '../../infra/local/serve.ts';
import { RUN_REQUEST_MAX_FIELD } from '../../shared/runtime/runs.ts';

/** The runs API's limits are the same on AWS (API Gateway's model and stage) and on `npm start --serve`. */

describe('runs API limits', () => {
  it('bounds every text field of POST /runs in the request model, as the handler does', () => {
    const stack = new Stack(new App(), 'Limits');
    const handler = new LambdaFunction(stack, 'Fn', {
      runtime: Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({ statusCode: 200 })'),
    });
    new RunsApi(stack, 'Api', { handler });
    const models = Object.values(Template.fromStack(stack).findResources('AWS::ApiGateway::Model'));
    expect(models).toHaveLength(1);
    const schema = models[0]!.Properties.Schema as {
      additionalProperties: boolean;
      properties: Record<string, { type?: string; maxLength?: number; pattern?: string; enum?: string[] }>;
    };
    expect(schema.additionalProperties).toBe(false);
    for (const [name, field] of Object.entries(schema.properties)) {
      // Every text field has a bound: a length, a fixed pattern, or a list of values.
      if (field.type === 'boolean') continue;
      expect(field.maxLength ?? field.pattern ?? field.enum, name).toBeDefined();
      if (field.maxLength !== undefined) expect(field.maxLength, name).toBe(RUN_REQUEST_MAX_FIELD);
    }
  });

  it('serves locally as many requests at once as the stage lets through in a burst', () => {
    expect(MAX_CONCURRENT_REQUESTS).toBe(API_THROTTLE.burstLimit);
  });
});
