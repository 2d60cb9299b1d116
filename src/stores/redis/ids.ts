/**
 * Ids made here, at once (append and addDeadLetter return them synchronously): a counter that
 * follows the clock in microseconds, Date.now() * 1000, and goes up by one when called faster.
 * They increase within a store, and across restarts unless a store made more than a million a
 * second (its counter then ran ahead of the clock). Two nodes make the same id only if they make
 * one in the same microsecond; queue entries are per node, so only dead letters could meet one
 * (a duplicate id there is listed twice and purged together). Up to 2^53 (the year 2255).
 */
export class Ids {
  private last = 0;

  constructor(private readonly now: () => number = Date.now) {}

  next(): number {
    const id = Math.max(this.now() * 1000, this.last + 1);
    this.last = id;
    return id;
  }
}
