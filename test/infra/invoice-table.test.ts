import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BYTES_SCANNED_CUTOFF, InvoiceQueries, kebabNameOf } from '../../infra/aws/invoice-queries.ts';
import { databaseNameOf, InvoiceTable, projectionStart } from '../../infra/aws/invoice-table.ts';
import { Storage } from '../../infra/aws/storage.ts';
import { PROVIDERS } from '../../shared/config/schema.ts';
import { LATEST_INVOICES, latestInvoicesQuery } from '../../shared/invoice/latest-invoices-query.ts';
import { READY_ANSWERS } from '../../shared/invoice/ready-answers.ts';
import { DATA_COLUMNS, glueType, PARTITION_COLUMNS } from '../../shared/invoice/table-columns.ts';
import {
  allows,
  type CfnTemplate,
  type Json,
  joinedText,
  logicalIdAt,
  resourcesOfType,
  type Statement,
} from './template.ts';

// The table and its workgroup on their own (no function bundling), with the cdk-nag pack the app runs:
// a finding fails the synthesis in beforeAll. stack.test.ts checks the whole stack wires them in.

const STACK = 'InvoiceIngest';
let outdir: string;
let stack: Stack;
let t: CfnTemplate;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'infra-invoice-table-'));
  const app = new App({ outdir });
  stack = new Stack(app, STACK);
  // As InvoiceIngestStack sets it: log delivery through the bucket policy, ACLs being disabled.
  stack.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
  const storage = new Storage(stack, 'Storage');
  const invoices = new InvoiceTable(stack, 'InvoiceTable', {
    bucket: storage.bucket,
    firstIssueMonth: '2015-01',
  });
  new InvoiceQueries(stack, 'InvoiceQueries', {
    invoices,
    bucket: storage.bucket,
    accessLogs: storage.accessLogs,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  t = Template.fromStack(stack).toJSON() as CfnTemplate;
});
afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

const id = (path: string) => logicalIdAt(stack, `${STACK}/${path}`);
const props = (logicalId: string) => t.Resources[logicalId]?.Properties as Json;
const tableInput = () => props(id('InvoiceTable/Invoices/Table')).TableInput as Json;
const bucketRef = () => `<${id('Storage/Invoices/Resource')}>`;

describe('the invoices Glue table', () => {
  it('is named invoices, in a database named after the stack, over the month files as OpenX JSON', () => {
    const input = tableInput();
    expect(input.Name).toBe('invoices');
    expect(props(id('InvoiceTable/Database/Resource')).DatabaseInput).toMatchObject({
      Name: 'invoice_ingest',
    });
    const storage = input.StorageDescriptor as Json;
    expect(joinedText(storage.Location)).toBe(`s3://${bucketRef()}/invoices/`);
    expect(storage.SerdeInfo).toEqual({ SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' });
    expect(storage.InputFormat).toBe('org.apache.hadoop.mapred.TextInputFormat');
  });

  it('types its columns from the one column list: DECIMAL(38,6) money, DATE dates, structs and arrays', () => {
    const storage = tableInput().StorageDescriptor as Json;
    expect(storage.Columns).toEqual(DATA_COLUMNS.map((c) => ({ Name: c.name, Type: glueType(c.type) })));
    const types = Object.fromEntries(
      (storage.Columns as Array<{ Name: string; Type: string }>).map((c) => [c.Name, c.Type]),
    );
    expect(types).toMatchObject({
      total: 'decimal(38,6)',
      remainingdue: 'decimal(38,6)',
      issuedon: 'date',
      dueon: 'date',
      fetchedat: 'timestamp',
      serviceperiod: 'struct<from:date,to:date>',
    });
    expect(tableInput().PartitionKeys).toEqual(
      PARTITION_COLUMNS.map((c) => ({ Name: c.name, Type: 'string' })),
    );
  });

  it('projects its partitions: provider from the config schema, issue_month by month; no crawler', () => {
    const parameters = tableInput().Parameters as Json;
    expect(parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.provider.type': 'enum',
      'projection.provider.values': PROVIDERS.join(','),
      'projection.issue_month.type': 'date',
      'projection.issue_month.format': 'yyyy-MM',
      'projection.issue_month.range': '2015-01,NOW+1MONTH',
      'projection.issue_month.interval': '1',
      'projection.issue_month.interval.unit': 'MONTHS',
      // SSE-S3 data: true would make Athena treat the objects as client-side encrypted.
      has_encrypted_data: false,
    });
    expect(joinedText(parameters['storage.location.template'])).toBe(
      `s3://${bucketRef()}/invoices/provider=\${provider}/issue_month=\${issue_month}/`,
    );
    expect(resourcesOfType(t, 'AWS::Glue::Crawler')).toEqual([]);
  });

  it('projects from a connection that backfills before 2015, else from 2015', () => {
    expect(projectionStart([undefined, '2020-03-01'])).toBe('2015-01');
    expect(projectionStart(['2012-07-15', undefined])).toBe('2012-07');
    expect(databaseNameOf('InvoiceIngest')).toBe('invoice_ingest');
    expect(kebabNameOf('InvoiceIngest')).toBe('invoice-ingest');
  });
});

describe('the Athena workgroup', () => {
  const workGroup = () => props(id('InvoiceQueries/WorkGroup'));

  it('enforces its settings: results encrypted in their own bucket, a bytes-scanned cutoff, engine 3', () => {
    const wg = workGroup();
    expect(wg.Name).toBe('invoice-ingest');
    const config = wg.WorkGroupConfiguration as Json;
    expect(config.EnforceWorkGroupConfiguration).toBe(true);
    expect(config.BytesScannedCutoffPerQuery).toBe(BYTES_SCANNED_CUTOFF);
    expect(config.EngineVersion).toEqual({ SelectedEngineVersion: 'Athena engine version 3' });
    const results = config.ResultConfiguration as Json;
    expect(results.EncryptionConfiguration).toEqual({ EncryptionOption: 'SSE_S3' });
    expect(joinedText(results.OutputLocation)).toBe(
      `s3://<${id('InvoiceQueries/Results/Resource')}>/athena/`,
    );
    const bucket = props(id('InvoiceQueries/Results/Resource'));
    expect(bucket.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(bucket.PublicAccessBlockConfiguration).toMatchObject({
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });
  });

  it('saves the latest-version query and the ready answers, in Athena SQL', () => {
    const saved: Record<string, Json> = Object.fromEntries(
      resourcesOfType(t, 'AWS::Athena::NamedQuery').map(([, r]) => [r.Properties!.Name, r.Properties!]),
    );
    expect(Object.keys(saved).sort()).toEqual([LATEST_INVOICES, ...READY_ANSWERS.map((a) => a.name)].sort());
    expect(saved[LATEST_INVOICES]!.QueryString).toBe(latestInvoicesQuery());
    expect(saved['missing-documents']!.QueryString).toContain('cardinality(documents) = 0');
    for (const query of Object.values(saved)) {
      expect(query.WorkGroup).toEqual({ Ref: id('InvoiceQueries/WorkGroup') });
      expect(query.Database).toEqual({ Ref: id('InvoiceTable/Database/Resource') });
    }
  });
});

describe('the analyst policy', () => {
  const statements = () => {
    const policy = props(id('InvoiceQueries/AnalystPolicy/Resource'));
    return (policy.PolicyDocument as { Statement: Statement[] }).Statement;
  };
  const invoiceBucket = () => `<${id('Storage/Invoices/Resource')}.Arn>`;
  const resultsBucket = () => `<${id('InvoiceQueries/Results/Resource')}.Arn>`;

  it('is a named customer managed policy', () => {
    expect(props(id('InvoiceQueries/AnalystPolicy/Resource')).ManagedPolicyName).toBe(
      'invoice-ingest-analyst',
    );
  });

  it('runs queries in the workgroup only', () => {
    const workGroup = 'arn:<AWS::Partition>:athena:<AWS::Region>:<AWS::AccountId>:workgroup/invoice-ingest';
    for (const action of [
      'athena:StartQueryExecution',
      'athena:GetQueryResults',
      'athena:GetQueryExecution',
    ]) {
      expect(allows(statements(), action, workGroup)).toBe(true);
      expect(allows(statements(), action, 'arn:aws:athena:eu-west-1:1:workgroup/primary')).toBe(false);
    }
    expect(allows(statements(), 'athena:UpdateWorkGroup', workGroup)).toBe(false);
  });

  it('reads the table from Glue, and cannot change it', () => {
    const table = `arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/<${id('InvoiceTable/Database/Resource')}>/<${id('InvoiceTable/Invoices/Table')}>`;
    for (const action of ['glue:GetTable', 'glue:GetPartitions', 'glue:GetDatabase']) {
      expect(allows(statements(), action, table)).toBe(true);
    }
    expect(allows(statements(), 'glue:UpdateTable', table)).toBe(false);
    expect(allows(statements(), 'glue:DeleteTable', table)).toBe(false);
  });

  it('reads the month files and nothing else of the bucket; writes results under athena/ only', () => {
    const s = statements();
    expect(
      allows(s, 's3:GetObject', `${invoiceBucket()}/invoices/provider=cm360/issue_month=2026-01/x.jsonl`),
    ).toBe(true);
    expect(allows(s, 's3:GetObject', `${invoiceBucket()}/raw/cm360/x.json`)).toBe(false);
    expect(allows(s, 's3:GetObject', `${invoiceBucket()}/documents/cm360/x.pdf`)).toBe(false);
    expect(allows(s, 's3:PutObject', `${invoiceBucket()}/invoices/x.jsonl`)).toBe(false);
    expect(allows(s, 's3:PutObject', `${resultsBucket()}/athena/q.csv`)).toBe(true);
    expect(allows(s, 's3:GetObject', `${resultsBucket()}/athena/q.csv`)).toBe(true);
    const listInvoices = s.find(
      (x) =>
        x.Action === 's3:ListBucket' && JSON.stringify(x.Resource).includes(id('Storage/Invoices/Resource')),
    );
    expect(listInvoices?.Condition).toEqual({ StringLike: { 's3:prefix': ['invoices/*'] } });
  });
});
