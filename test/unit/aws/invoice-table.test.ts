import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoInvoiceTable } from '../../../shared/aws/invoice-table.ts';
import type { MonthFile, TableEntry } from '../../../shared/engine/invoice-table.ts';
import type { NormalizedInvoice } from '../../../shared/invoice/model.ts';
import { normalizedInvoice } from '../../helpers/normalized-invoice.ts';
import { type StateTable, startStateTable } from '../../helpers/state-table.ts';

let db: StateTable;
beforeAll(async () => {
  db = await startStateTable();
});
afterAll(async () => {
  await db?.close();
});

let scopes = 0;
/** A table and a scope of its own per test, so tests do not see each other's invoices. */
function fresh() {
  scopes += 1;
  const scope = `scope-${scopes}`;
  const table = new DynamoInvoiceTable(db.ddb, db.table);
  const file = (month: string): MonthFile => ({ provider: 'cm360', connection: 'c1', scope, month });
  const invoice = (id: string, issuedOn: string, total = '1.00'): NormalizedInvoice =>
    normalizedInvoice({
      connection: 'c1',
      account: scope,
      invoiceId: id,
      issuedOn,
      total,
      rawKey: `raw/${id}.json`,
      fetchedAt: '2026-03-01T00:00:00.000Z',
    });
  const read = async (month: string): Promise<TableEntry[]> => {
    const out: TableEntry[] = [];
    for await (const e of table.entries(file(month))) out.push(e);
    return out;
  };
  return { table, file, invoice, read };
}

describe('DynamoInvoiceTable', () => {
  it('upserts by identity: each invoice once a month, its latest version, ordered by id, with its match keys', async () => {
    const { table, invoice, read } = fresh();
    const touched = await table.upsert([
      { invoice: invoice('b', '2026-03-02') },
      { invoice: invoice('a', '2026-03-01'), match: { series: '1' } },
    ]);
    expect(touched.map((f) => f.month)).toEqual(['2026-03']);
    await table.upsert([{ invoice: invoice('b', '2026-03-02', '7.25') }]);
    const march = await read('2026-03');
    expect(march.map((e) => [e.invoice.invoiceId, e.invoice.total, e.match])).toEqual([
      ['a', '1.00', { series: '1' }],
      ['b', '7.25', undefined],
    ]);
  });

  it('reads a month larger than one Query page whole: each invoice once, in order, one moved away skipped', async () => {
    const { table, invoice, read } = fresh();
    const ids = Array.from({ length: 2_345 }, (_, i) => `inv-${String(i).padStart(5, '0')}`);
    for (let i = 0; i < ids.length; i += 500) {
      await table.upsert(ids.slice(i, i + 500).map((id) => ({ invoice: invoice(id, '2026-03-15') })));
    }
    // One invoice moves to April, from the middle of March's second page.
    await table.upsert([{ invoice: invoice('inv-01500', '2026-04-01') }]);
    const march = (await read('2026-03')).map((e) => e.invoice.invoiceId);
    expect(march).toEqual(ids.filter((id) => id !== 'inv-01500'));
  });

  it('writes nothing and touches no month for an invoice it holds as it is, fetch time aside; a new fingerprint is kept', async () => {
    const { table, invoice, read } = fresh();
    await table.upsert([{ invoice: invoice('a', '2026-03-01'), fingerprint: 'f1' }]);
    const later = { ...invoice('a', '2026-03-01'), fetchedAt: '2026-03-02T00:00:00.000Z' };
    expect(await table.upsert([{ invoice: later, fingerprint: 'f1' }])).toEqual([]);
    expect(await table.upsert([{ invoice: later, fingerprint: 'f2' }])).toEqual([]);
    expect(
      (await table.landed({ provider: 'cm360', connection: 'c1', scope: later.account }, ['a'])).get('a'),
    ).toMatchObject({ fingerprint: 'f2', month: '2026-03', documents: 0 });
    // So is a new raw stamp, with the fingerprint it came with.
    expect(await table.upsert([{ invoice: later, fingerprint: 'f2', raw: 'r1' }])).toEqual([]);
    expect(
      (await table.landed({ provider: 'cm360', connection: 'c1', scope: later.account }, ['a'])).get('a'),
    ).toMatchObject({ fingerprint: 'f2', raw: 'r1', month: '2026-03' });
    // The line keeps the fetch time of the version that landed; a changed amount lands and touches its month.
    expect((await read('2026-03'))[0]?.invoice.fetchedAt).toBe('2026-03-01T00:00:00.000Z');
    const touched = await table.upsert([{ invoice: { ...later, total: '2.00' }, fingerprint: 'f3' }]);
    expect(touched.map((f) => f.month)).toEqual(['2026-03']);
    expect((await read('2026-03'))[0]?.invoice.total).toBe('2.00');
  });

  it('reads the documents an invoice landed with from the month `landed` names, and none from another month', async () => {
    const { table, invoice } = fresh();
    const doc = { type: 'INVOICE', key: 'documents/a.pdf', sha256: 'ab'.repeat(32), bytes: 5 };
    const a = { ...invoice('a', '2026-03-05'), documents: [doc] };
    await table.upsert([{ invoice: a, fingerprint: 'f1' }, { invoice: invoice('b', '2026-03-06') }]);
    const scope = { provider: 'cm360', connection: 'c1', scope: a.account } as const;
    const landed = await table.landed(scope, ['a', 'b', 'c']);
    // b landed without a fingerprint or stamp, c never: only a is named.
    expect([...landed.keys()]).toEqual(['a']);
    const months = new Map([['a', landed.get('a')?.month ?? '']]);
    expect(await table.documents(scope, months)).toEqual(new Map([['a', [doc]]]));
    expect(await table.documents(scope, new Map([['a', '2026-04']]))).toEqual(new Map());
  });

  it('neither reads nor writes an entry that matches, in every part, what landed() said of it', async () => {
    const { table, invoice } = fresh();
    const a = invoice('a', '2026-03-05');
    await table.upsert([{ invoice: a, fingerprint: 'f1', raw: 'r1' }]);
    const scope = { provider: 'cm360', connection: 'c1', scope: a.account } as const;
    const before = (await table.landed(scope, ['a'])).get('a');
    const sent: string[] = [];
    const ddb = {
      send: (command: { constructor: { name: string } }) => {
        sent.push(command.constructor.name);
        return db.ddb.send(command as never);
      },
    };
    const counted = new DynamoInvoiceTable(ddb as never, db.table);
    const later = { ...a, fetchedAt: '2026-03-02T00:00:00.000Z' };
    expect(await counted.upsert([{ invoice: later, fingerprint: 'f1', raw: 'r1', before }])).toEqual([]);
    expect(sent).toEqual([]);
    // Its raw stamp changed: the pointer is read and written again, its month file untouched.
    expect(await counted.upsert([{ invoice: later, fingerprint: 'f1', raw: 'r2', before }])).toEqual([]);
    expect(sent).toEqual(['BatchGetCommand', 'BatchWriteCommand']);
    expect((await table.landed(scope, ['a'])).get('a')).toMatchObject({ fingerprint: 'f1', raw: 'r2' });
  });

  it('moves an invoice whose issue date changed month: it leaves the old month, and both months are touched', async () => {
    const { table, invoice, read } = fresh();
    await table.upsert([{ invoice: invoice('x', '2026-01-31') }, { invoice: invoice('y', '2026-01-15') }]);
    const touched = await table.upsert([{ invoice: invoice('x', '2026-02-01') }]);
    expect(touched.map((f) => f.month).sort()).toEqual(['2026-01', '2026-02']);
    expect((await read('2026-01')).map((e) => e.invoice.invoiceId)).toEqual(['y']);
    expect((await read('2026-02')).map((e) => e.invoice.invoiceId)).toEqual(['x']);
  });

  it('loses nothing to concurrent writers: disjoint invoices all land, and one invoice raced across months ends in exactly one', async () => {
    const { table, invoice, read } = fresh();
    const writers = Array.from({ length: 8 }, (_, w) =>
      table.upsert(
        Array.from({ length: 40 }, (_, n) => ({
          invoice: invoice(`w${w}-${String(n).padStart(2, '0')}`, '2026-04-10'),
        })),
      ),
    );
    const months = ['2026-04', '2026-05', '2026-06', '2026-07'];
    const racers = months.flatMap((m) =>
      Array.from({ length: 3 }, () => table.upsert([{ invoice: invoice('raced', `${m}-01`) }])),
    );
    await Promise.all([...writers, ...racers]);

    const april = (await read('2026-04')).map((e) => e.invoice.invoiceId).filter((id) => id !== 'raced');
    expect(april).toHaveLength(8 * 40);
    expect(new Set(april).size).toBe(8 * 40);
    let raced = 0;
    for (const m of months) raced += (await read(m)).filter((e) => e.invoice.invoiceId === 'raced').length;
    expect(raced).toBe(1);
  });

  it('publishes so the last write of a file has every change made before any publish of it, even when publishes overlap', async () => {
    const { table, file, invoice, read } = fresh();
    const march = file('2026-03');
    const written: string[][] = [];
    const write = async () => {
      await new Promise((r) => setTimeout(r, 30));
      written.push((await read('2026-03')).map((e) => e.invoice.invoiceId));
    };
    await table.upsert([{ invoice: invoice('first', '2026-03-01') }]);
    const holder = table.publish(march, Date.now() + 60_000, write);
    await new Promise((r) => setTimeout(r, 5));
    await table.upsert([{ invoice: invoice('second', '2026-03-02') }]);
    // The file is held: this publish returns at once and leaves the write to the holder.
    expect(await table.publish(march, Date.now() + 60_000, write)).toBe(false);
    expect(await holder).toBe(true);
    expect(written.at(-1)).toEqual(['first', 'second']);
    // Released: the next publish writes itself.
    expect(await table.publish(march, Date.now() + 60_000, write)).toBe(true);
  });

  it('takes over a file whose holder died (its lease is past)', async () => {
    const { table, file } = fresh();
    const died = table.publish(file('2026-05'), Date.now() - 1, () => new Promise(() => {}));
    void died;
    await new Promise((r) => setTimeout(r, 20));
    let wrote = false;
    expect(
      await table.publish(file('2026-05'), Date.now() + 60_000, async () => {
        wrote = true;
      }),
    ).toBe(true);
    expect(wrote).toBe(true);
  });
});
