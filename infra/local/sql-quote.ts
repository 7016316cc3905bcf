/** A text as a SQL string literal (DuckDB, standard SQL: a quote is doubled). */
export const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/** A name as a quoted SQL identifier. */
export const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`;
