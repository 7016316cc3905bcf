import { App } from 'aws-cdk-lib';
import { ConfigError, defaultConfigPath, loadConfig } from '../../shared/config/load.ts';
import { buildApp } from './build.ts';

/** The config file: context `config` (cdk synth -c config=...), else INVOICE_INGEST_CONFIG, else the default. */
function configPathFor(app: App): string {
  const fromContext: unknown = app.node.tryGetContext('config');
  if (typeof fromContext === 'string' && fromContext) return fromContext;
  return process.env.INVOICE_INGEST_CONFIG || defaultConfigPath();
}

const app = new App();
try {
  const config = loadConfig(configPathFor(app));
  buildApp(config, { app });
} catch (err) {
  // The message already names the file, connection and field; a stack trace would only bury it.
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}
app.synth();
