/**
 * The exact bytes of each element of an array inside a JSON text, so an item of a page can be stored as
 * the provider sent it (its sha256 is the provider's), not re-serialized. `path` names the array by keys
 * from the top (e.g. ['invoices'] or ['payload', 'invoiceSummaries']). Returns undefined when the text
 * has no such array; the caller then falls back to its own serialization and says so.
 */
export function rawItems(text: string, path: readonly string[]): string[] | undefined {
  return scan(text, path, true) as string[] | undefined;
}

/** The exact bytes of the value at `path` inside a JSON text (e.g. ['invoice']), or undefined. */
export function rawMember(text: string, path: readonly string[]): string | undefined {
  return scan(text, path, false) as string | undefined;
}

function scan(text: string, path: readonly string[], array: boolean): string[] | string | undefined {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const skipString = () => {
    i++; // opening quote
    while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
  };
  const readString = (): string => {
    const start = i;
    skipString();
    return JSON.parse(text.slice(start, i)) as string;
  };
  // Skips one value of any kind and leaves i after it.
  const skipValue = (): void => {
    ws();
    const c = text[i];
    if (c === '"') {
      skipString();
      return;
    }
    if (c === '{' || c === '[') {
      let depth = 0;
      while (i < n) {
        const ch = text[i];
        if (ch === '"') {
          skipString();
          continue;
        }
        if (ch === '{' || ch === '[') depth++;
        else if (ch === '}' || ch === ']') {
          depth--;
          if (depth === 0) {
            i++;
            return;
          }
        }
        i++;
      }
      return;
    }
    while (i < n && !',}] \n\r\t'.includes(text[i]!)) i++;
  };
  // Finds key `name` in the object starting at i; leaves i at its value.
  const enterKey = (name: string): boolean => {
    ws();
    if (text[i] !== '{') return false;
    i++;
    for (;;) {
      ws();
      if (text[i] === '}' || i >= n) return false;
      if (text[i] !== '"') return false;
      const key = readString();
      ws();
      if (text[i] !== ':') return false;
      i++;
      ws();
      if (key === name) return true;
      skipValue();
      ws();
      if (text[i] === ',') i++;
    }
  };
  try {
    for (const key of path) if (!enterKey(key)) return undefined;
    ws();
    if (!array) {
      const start = i;
      skipValue();
      return i > start ? text.slice(start, i) : undefined;
    }
    if (text[i] !== '[') return undefined;
    i++;
    const out: string[] = [];
    for (;;) {
      ws();
      if (text[i] === ']') return out;
      if (i >= n) return undefined;
      const start = i;
      skipValue();
      out.push(text.slice(start, i));
      ws();
      if (text[i] === ',') i++;
    }
  } catch {
    return undefined;
  }
}
