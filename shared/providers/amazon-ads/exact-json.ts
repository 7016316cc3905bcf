/**
 * JSON.parse turns every number into a double. Amazon Ads sends money as `{amount: <JSON number>}` and
 * profile ids as int64 numbers, and neither may pass through a float: before parsing, the number tokens of
 * those fields are turned into strings holding the digits exactly as sent.
 *
 * Only a value that directly follows `"<field>":` is rewritten. Inside a JSON string a quote is escaped
 * (`\"amount\":`), so text inside strings never matches.
 */

const NUMBER = '-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?';

const cache = new Map<string, RegExp>();

function fieldPattern(fields: readonly string[]): RegExp {
  const id = fields.join('|');
  let re = cache.get(id);
  if (!re) {
    const names = fields.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
    re = new RegExp(`("(?:${names})"\\s*:\\s*)(${NUMBER})(?=\\s*[,}\\]])`, 'g');
    cache.set(id, re);
  }
  return re;
}

/** Fields parsed as exact digit strings: money amounts and int64 ids. */
export const EXACT_FIELDS = ['amount', 'profileId'] as const;

/** Parses JSON text, keeping the listed fields' numbers as strings of their exact digits. */
export function parseExactJson(text: string, fields: readonly string[] = EXACT_FIELDS): unknown {
  return JSON.parse(text.replace(fieldPattern(fields), '$1"$2"'));
}
