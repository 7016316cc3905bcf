import { READY_ANSWERS } from '../../shared/invoice/ready-answers.ts';
import { UsageError } from './cli-options.ts';
import { formatResultTable } from './format-result-table.ts';
import { NoInvoicesError, openInvoiceTable, type QueryResult } from './open-invoice-table.ts';
import { parseQueryOptions, QUERY_USAGE } from './query-options.ts';

/**
 * `npm run query`: SQL over the `invoices` table of a local mirror. Exit codes: 0 answered, 1 the SQL
 * failed (DuckDB's error on stderr), 2 a usage error or nothing to query.
 */

const rowObjects = (r: QueryResult) =>
  r.rows.map((row) => Object.fromEntries(r.columns.map((name, i) => [name, row[i]])));

async function main(argv: string[]): Promise<number> {
  const options = parseQueryOptions(argv);
  if (options.help) {
    process.stdout.write(`${QUERY_USAGE}\n`);
    return 0;
  }
  const table = await openInvoiceTable(options.out);
  try {
    if (options.sql) {
      const result = await table.query(options.sql);
      process.stdout.write(
        options.json ? `${JSON.stringify(rowObjects(result), null, 2)}\n` : `${formatResultTable(result)}\n`,
      );
      return 0;
    }
    const answers: Record<string, unknown> = {};
    for (const answer of READY_ANSWERS) {
      const result = await table.query(answer.sql('duckdb'));
      if (options.json) answers[answer.name] = rowObjects(result);
      else process.stdout.write(`${answer.title}\n\n${formatResultTable(result)}\n\n`);
    }
    if (options.json) process.stdout.write(`${JSON.stringify(answers, null, 2)}\n`);
    return 0;
  } catch (err) {
    // DuckDB's own message names the problem (the SQL's, or a month file it cannot read); a stack would bury it.
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  } finally {
    table.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) process.stderr.write(`error: ${err.message}\n\n${QUERY_USAGE}\n`);
    else if (err instanceof NoInvoicesError) process.stderr.write(`error: ${err.message}\n`);
    else process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = err instanceof UsageError || err instanceof NoInvoicesError ? 2 : 1;
  },
);
