/**
 * JSON text with numbers written exactly as given: Amazon Ads sends money as JSON numbers
 * (`{"amount": 1234.50}`) and profile ids as int64 numbers, and a simulator that went through
 * JSON.stringify could only send what a double holds. A JsonNumber carries the digits; exactJson writes them.
 */

const MARK = '\u0000num:';

export class JsonNumber {
  constructor(readonly text: string) {
    if (!/^-?\d+(\.\d+)?$/.test(text)) throw new RangeError(`not a JSON number: ${JSON.stringify(text)}`);
  }
  toJSON(): string {
    return `${MARK}${this.text}`;
  }
}

export function exactJson(value: unknown): string {
  // JSON.stringify escapes the mark's NUL as \u0000, which no other string in the output can contain.
  return JSON.stringify(value).replace(/"\\u0000num:(-?\d+(?:\.\d+)?)"/g, '$1');
}
