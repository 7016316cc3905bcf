import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rawItems, rawMember } from '../../../shared/engine/raw-items.ts';

describe("rawItems / rawMember: the provider's own bytes of each item", () => {
  it('slices each element exactly, with strings that hold brackets, quotes and escapes', () => {
    const text =
      '{"a": {"x": "[}"}, "payload" : { "list": [ {"id":"1","n":1.10} ,\n{"id":"2\\"]","v":[1,{"b":"}"}]}, 3e2, "s" ] } }';
    expect(rawItems(text, ['payload', 'list'])).toEqual([
      '{"id":"1","n":1.10}',
      '{"id":"2\\"]","v":[1,{"b":"}"}]}',
      '3e2',
      '"s"',
    ]);
    expect(rawMember(text, ['a'])).toBe('{"x": "[}"}');
    expect(rawItems(text, ['missing'])).toBeUndefined();
    expect(rawItems('{"list": {}}', ['list'])).toBeUndefined();
  });
  it('each slice parses to the element JSON.parse gives (any JSON array)', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue()), fc.constantFrom(0, 2), (values, indent) => {
        const text = JSON.stringify({ before: 'x', items: values, after: [1] }, null, indent);
        const slices = rawItems(text, ['items'])!;
        expect(slices.map((s) => JSON.parse(s))).toEqual(JSON.parse(text).items);
      }),
    );
  });
});
