/**
 * The broker-wide memory budget: bytes of message data the broker holds on behalf of clients
 * (session queues, queue backlogs, retained messages), kept as a counter by the places that
 * store and free them. Past `limit`, new publishes are refused at the door (QoS 1/2 with
 * 0x97 Quota exceeded / a STOMP ERROR, QoS 0 dropped and counted): what was accepted stays,
 * and one application or client cannot take the process down by filling memory.
 *
 * A counter, not a probe: checking it is one comparison per publish.
 */
export class MemoryBudget {
  used = 0;

  constructor(public limit: number) {}

  get exceeded(): boolean {
    return this.used > this.limit;
  }

  add(bytes: number): void {
    this.used += bytes;
  }

  sub(bytes: number): void {
    this.used -= bytes;
  }
}
