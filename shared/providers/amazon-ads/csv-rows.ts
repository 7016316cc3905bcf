const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Counts the records of a CSV as its bytes stream past, in constant memory: line breaks inside quoted
 * fields do not end a record (a doubled quote toggles twice, so it leaves the state as it was), CRLF and LF
 * both end one, and a last record without a final line break still counts. The header is not a row.
 */
export class CsvRowCounter {
  #records = 0;
  #inQuotes = false;
  /** Bytes seen since the last record ended (a non-empty last line counts without a final break). */
  #open = false;

  push(chunk: Buffer): void {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === QUOTE) {
        this.#inQuotes = !this.#inQuotes;
        this.#open = true;
      } else if (byte === LF && !this.#inQuotes) {
        if (this.#open) this.#records++;
        this.#open = false;
      } else if (byte !== CR || this.#inQuotes) {
        this.#open = true;
      }
    }
  }

  /** Records seen, the header included. */
  records(): number {
    return this.#records + (this.#open ? 1 : 0);
  }

  /** Data rows: records less the header line. */
  rows(): number {
    return Math.max(0, this.records() - 1);
  }
}
