import { parseArgs } from 'node:util';
import { READY_ANSWERS } from '../../shared/invoice/ready-answers.ts';
import { UsageError } from './cli-options.ts';

export const QUERY_USAGE = `Usage: npm run query -- ["<SQL>"] [options]

Runs SQL over the normalized invoices a local run mirrored (npm start writes ./out), in an embedded DuckDB.
The table is \`invoices\`, with the columns and types of the Glue table Athena queries on AWS, and the view
\`invoices_latest\` holds one row per invoice, its latest version. Without SQL, prints ready answers:
${READY_ANSWERS.map((a) => `  ${a.name.padEnd(18)} ${a.title}`).join('\n')}

Options:
  --out <dir>   the mirror to read (default: ./out)
  --json        rows as JSON on stdout (DECIMAL and BIGINT as exact strings)
  -h, --help    this text

Example:
  npm run query -- "SELECT provider, count(*) FROM invoices_latest GROUP BY provider"`;

export interface QueryOptions {
  /** The SQL to run; none: the ready answers. */
  sql?: string;
  out: string;
  json: boolean;
  help: boolean;
}

/** A bad option or a second argument is a UsageError (unquoted SQL splits into words, and * into file names). */
export function parseQueryOptions(argv: string[]): QueryOptions {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  if (positionals.length > 1) {
    throw new UsageError(`expected one SQL argument, got ${positionals.length}: put the SQL in quotes`);
  }
  const sql = positionals[0]?.trim();
  if (positionals.length === 1 && !sql) throw new UsageError('the SQL argument is empty');
  return { ...(sql ? { sql } : {}), out: v.out ?? 'out', json: Boolean(v.json), help: Boolean(v.help) };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
