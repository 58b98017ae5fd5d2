/**
 * Freed ports waiting out a reuse delay, in release order. With one delay
 * for every port, release order is expiry order, so the queue is a FIFO:
 * push at the tail, expire from the head, O(1) each. A clock that steps
 * back only keeps ports out longer (never shorter).
 *
 * @example
 * ```ts
 * const q = new DelayQueue();
 * q.push(14001, 5_000); // key 14001 comes back at t = 5,000
 * q.expire(6_000, (key) => console.log("back:", key));
 * ```
 * @module
 */

/** The queue: see the module documentation. */
export class DelayQueue {
  #keys: number[] = [];
  #until: number[] = [];
  #head = 0;
  /** Entries by `key & 1` (a PortPool's keys are `port * 2 + (UDP ? 1 : 0)`). */
  readonly tally: [number, number] = [0, 0];

  /** Entries waiting. */
  get size(): number {
    return this.#keys.length - this.#head;
  }

  /** When the head entry comes back, or undefined when empty. */
  get earliest(): number | undefined {
    return this.#head < this.#keys.length ? this.#until[this.#head] : undefined;
  }

  /** Adds `key`, back at `until`. */
  push(key: number, until: number): void {
    this.#keys.push(key);
    this.#until.push(until);
    this.tally[key & 1]++;
  }

  /**
   * Removes every entry due at `now` (until ≤ now), calling `back` with each
   * key (and the time it was due) in order.
   */
  expire(now: number, back: (key: number, until: number) => void): void {
    let h = this.#head;
    const keys = this.#keys;
    if (h === keys.length || this.#until[h] > now) return;
    while (h < keys.length && this.#until[h] <= now) {
      const until = this.#until[h];
      const key = keys[h++];
      this.tally[key & 1]--;
      back(key, until);
    }
    if (h === keys.length) {
      this.#keys = [];
      this.#until = [];
      h = 0;
    } else if (h > 1024 && h * 2 > keys.length) {
      this.#keys = keys.slice(h);
      this.#until = this.#until.slice(h);
      h = 0;
    }
    this.#head = h;
  }

  /** When `key` comes back (its latest entry), or undefined. O(size). */
  until(key: number): number | undefined {
    for (let i = this.#keys.length - 1; i >= this.#head; i--) {
      if (this.#keys[i] === key) return this.#until[i];
    }
    return undefined;
  }

  /** Takes `key` out (its first entry); false when absent. O(size). */
  remove(key: number): boolean {
    for (let i = this.#head; i < this.#keys.length; i++) {
      if (this.#keys[i] === key) {
        this.#keys.splice(i, 1);
        this.#until.splice(i, 1);
        this.tally[key & 1]--;
        return true;
      }
    }
    return false;
  }
}
