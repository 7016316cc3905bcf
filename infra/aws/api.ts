import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  JsonSchemaType,
  JsonSchemaVersion,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PROVIDERS } from '../../shared/config/schema.ts';
import { RUN_REQUEST_MAX_FIELD } from '../../shared/runtime/runs.ts';
import { acknowledge } from './nag.ts';

/** Stage throttling: runs are started by operators and scripts, a handful a minute. */
export const API_THROTTLE = { rateLimit: 5, burstLimit: 10 } as const;
export const API_STAGE = 'v1';

const DATE_PATTERN = '^\\d{4}-\\d{2}-\\d{2}$';

/** REST API in front of runs-api: `POST /runs` starts a run, `GET /runs/{runId}` reads its record. IAM auth only. */
export class RunsApi extends Construct {
  readonly api: RestApi;

  constructor(scope: Construct, id: string, props: { handler: IFunction }) {
    super(scope, id);

    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.THREE_MONTHS });
    this.api = new RestApi(this, 'Runs', {
      description: 'invoice-ingest: start runs and read their status',
      endpointTypes: [EndpointType.REGIONAL],
      // Execution logging needs the account's API Gateway CloudWatch role; keep it when the stack goes,
      // since it is account-wide and other APIs may rely on it.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      defaultMethodOptions: { authorizationType: AuthorizationType.IAM },
      deployOptions: {
        stageName: API_STAGE,
        throttlingRateLimit: API_THROTTLE.rateLimit,
        throttlingBurstLimit: API_THROTTLE.burstLimit,
        loggingLevel: MethodLoggingLevel.INFO,
        // Bodies are not logged: they can carry invoice ids and the access log already has the request line.
        dataTraceEnabled: false,
        metricsEnabled: true,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
      },
    });

    // The model bounds every field and allows no others, so a valid body is small; the rest of the size
    // limit (whitespace; API Gateway passes up to 10 MB) and the Content-Type (a body of another type is
    // not checked against the model) are runs-api's own checks: 413 and 415, the same answers locally.
    const validator = this.api.addRequestValidator('BodyAndParams', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const runRequest = this.api.addModel('RunRequest', {
      contentType: 'application/json',
      modelName: 'RunRequest',
      schema: {
        schema: JsonSchemaVersion.DRAFT4,
        title: 'RunRequest',
        type: JsonSchemaType.OBJECT,
        required: ['provider'],
        additionalProperties: false,
        properties: {
          provider: { type: JsonSchemaType.STRING, enum: [...PROVIDERS] },
          connection: { type: JsonSchemaType.STRING, minLength: 1, maxLength: RUN_REQUEST_MAX_FIELD },
          from: { type: JsonSchemaType.STRING, pattern: DATE_PATTERN },
          to: { type: JsonSchemaType.STRING, pattern: DATE_PATTERN },
          invoiceId: { type: JsonSchemaType.STRING, minLength: 1, maxLength: RUN_REQUEST_MAX_FIELD },
          job: { type: JsonSchemaType.STRING, minLength: 1, maxLength: RUN_REQUEST_MAX_FIELD },
          full: { type: JsonSchemaType.BOOLEAN },
        },
      },
    });

    const integration = new LambdaIntegration(props.handler);
    const runs = this.api.root.addResource('runs');
    runs.addMethod('POST', integration, {
      authorizationType: AuthorizationType.IAM,
      requestValidator: validator,
      requestModels: { 'application/json': runRequest },
    });
    runs.addResource('{runId}').addMethod('GET', integration, {
      authorizationType: AuthorizationType.IAM,
      requestValidator: validator,
      requestParameters: { 'method.request.path.runId': true },
    });

    acknowledge(
      this.api,
      'APIG3',
      'Every method requires SigV4-signed IAM credentials, so API Gateway rejects anonymous requests before ' +
        'the integration runs, and stage throttling caps the rest; a WAF web ACL has nothing left to filter.',
    );
    acknowledge(
      this.api,
      'COG4',
      'Callers are operators and automation with IAM credentials (AWS_IAM on every method); there are no end ' +
        'users, so there is no Cognito user pool to authorize against.',
    );
    acknowledge(
      this.api,
      'IAM4',
      'AmazonAPIGatewayPushToCloudWatchLogs is the AWS-managed policy for the account-wide API Gateway logging ' +
        'role; the role serves every REST API in the account and region, so it cannot be scoped to this one.',
      ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs'],
    );
  }
}
