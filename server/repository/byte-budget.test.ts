import { describe, expect, it } from 'vitest';
import { ByteBudget } from './byte-budget';

/** Lets every settled promise's continuation run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('ByteBudget', () => {
  it('serves the oldest operation first, whenever it asked', async () => {
    const b = new ByteBudget(10);
    const older = b.nextRank();
    const newer = b.nextRank();
    const first = await b.acquire(10, older);
    const order: string[] = [];
    void b.acquire(4, newer).then(() => order.push('newer'));
    void b.acquire(4, older).then(() => order.push('older'));
    await settle();
    expect(order).toEqual([]);
    first();
    await settle();
    // Both fit once the budget is free: the older one was queued ahead of the newer one.
    expect(order).toEqual(['older', 'newer']);
  });

  it('a newer operation never overtakes an older waiter, even when it would fit', async () => {
    const b = new ByteBudget(10);
    const older = b.nextRank();
    const newer = b.nextRank();
    const held = await b.acquire(6, newer);
    let bigGot = false;
    let smallGot = false;
    void b.acquire(8, older).then(() => (bigGot = true));
    void b.acquire(2, newer).then(() => (smallGot = true));
    await settle();
    // 4 bytes are free and the newer request needs 2, but the older one (8) waits ahead of it.
    expect([bigGot, smallGot]).toEqual([false, false]);
    held();
    await settle();
    expect([bigGot, smallGot]).toEqual([true, true]);
  });

  it('an older operation goes ahead of newer waiters when it fits', async () => {
    const b = new ByteBudget(10);
    const older = b.nextRank();
    const newer = b.nextRank();
    const held = await b.acquire(8, older);
    let newerGot = false;
    void b.acquire(8, newer).then(() => (newerGot = true));
    // 2 bytes free: the older operation's small request is served at once, past the waiting newer one.
    const small = await b.acquire(2, older);
    expect(newerGot).toBe(false);
    held();
    small();
    await settle();
    expect(newerGot).toBe(true);
  });

  it('a task bigger than the budget runs alone; a release counts once', async () => {
    const b = new ByteBudget(10);
    const r = b.nextRank();
    const big = await b.acquire(50, r);
    let got = false;
    void b.acquire(1, r).then(() => (got = true));
    await settle();
    expect(got).toBe(false);
    big();
    big();
    await settle();
    expect(got).toBe(true);
    // Had the double release counted, 11 bytes would be free and this 10 + 1 would both pass.
    const all = await b.acquire(9, r);
    let over = false;
    void b.acquire(1, r).then(() => (over = true));
    await settle();
    expect(over).toBe(false);
    all();
  });

  it('an urgent operation (a restore) goes ahead of older ones; urgent ones among themselves oldest first', async () => {
    const b = new ByteBudget(10);
    const backup = b.nextRank();
    const restoreA = b.nextRank(true);
    const restoreB = b.nextRank(true);
    const held = await b.acquire(10, backup);
    const order: string[] = [];
    void b.acquire(5, backup).then(() => order.push('backup'));
    void b.acquire(5, restoreB).then(() => order.push('restore B'));
    void b.acquire(5, restoreA).then(() => order.push('restore A'));
    await settle();
    held();
    await settle();
    expect(order).toEqual(['restore A', 'restore B']);
  });
});
