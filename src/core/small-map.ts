/**
 * A Map that holds its first entry inline and makes a real Map only for the second.
 *
 * Most sessions of a device fleet have one subscription; a one-entry Map costs ~350 bytes
 * (object plus hash table), this ~60. Keys compare with === (string keys here).
 * Only the subset of the Map API the broker uses is provided.
 */
export class SmallMap<K, V> {
  private key: K | undefined = undefined;
  private value: V | undefined = undefined;
  private one = false;
  private map: Map<K, V> | null = null;

  get size(): number {
    return this.map !== null ? this.map.size : this.one ? 1 : 0;
  }

  get(key: K): V | undefined {
    if (this.map !== null) return this.map.get(key);
    return this.one && this.key === key ? this.value : undefined;
  }

  has(key: K): boolean {
    if (this.map !== null) return this.map.has(key);
    return this.one && this.key === key;
  }

  set(key: K, value: V): this {
    if (this.map !== null) this.map.set(key, value);
    else if (!this.one || this.key === key) {
      this.key = key;
      this.value = value;
      this.one = true;
    } else {
      this.map = new Map([
        [this.key as K, this.value as V],
        [key, value],
      ]);
      this.key = undefined;
      this.value = undefined;
      this.one = false;
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.map !== null) return this.map.delete(key);
    if (!this.one || this.key !== key) return false;
    this.clear();
    return true;
  }

  clear(): void {
    this.key = undefined;
    this.value = undefined;
    this.one = false;
    this.map = null;
  }

  *keys(): IterableIterator<K> {
    if (this.map !== null) yield* this.map.keys();
    else if (this.one) yield this.key as K;
  }

  *values(): IterableIterator<V> {
    if (this.map !== null) yield* this.map.values();
    else if (this.one) yield this.value as V;
  }

  *entries(): IterableIterator<[K, V]> {
    if (this.map !== null) yield* this.map.entries();
    else if (this.one) yield [this.key as K, this.value as V];
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}
