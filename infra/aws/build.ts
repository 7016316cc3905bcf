import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Config } from '../../shared/config/schema.ts';
import { InvoiceIngestStack } from './stack.ts';

export const STACK_NAME = 'InvoiceIngest';

export interface BuildOptions {
  /** An App to build into (the CLI entry makes one to read context first); default: a new App. */
  app?: App;
  /** Cloud assembly directory for a new App (tests use a temp dir); default: CDK's. */
  outdir?: string;
  stackName?: string;
}

export interface BuiltApp {
  app: App;
  stack: InvoiceIngestStack;
}

/**
 * Builds the stack from a validated config and registers the cdk-nag AwsSolutions pack, which runs when the
 * app synthesizes: any unacknowledged finding fails synthesis.
 */
export function buildApp(config: Config, options: BuildOptions = {}): BuiltApp {
  const app = options.app ?? new App(options.outdir ? { outdir: options.outdir } : {});
  const stack = new InvoiceIngestStack(app, options.stackName ?? STACK_NAME, {
    config,
    description: 'invoice-ingest: pulls provider invoices into S3',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
