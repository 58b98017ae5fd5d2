/**
 * One bit per port of `[min, max]` (1 = used) with a summary bit per word
 * (1 = the word is full), so a search for a free port skips 1,024 used
 * ports per summary word and never walks port by port. A next-fit cursor
 * makes a freed port the last to be handed out again.
 *
 * The bits may live in a slab shared with other bitmaps (see
 * {@linkcode PoolSet}): thousands of pools then cost no typed-array object
 * each.
 *
 * @example
 * ```ts
 * const bits = new PortBitmap(7000, 8000);
 * bits.allocateNext(); // 7000
 * bits.allocate(7500); // true
 * bits.has(7500);      // true
 * ```
 * @module
 */

/**
 * Words (32 ports each) and summary words a bitmap over `size` ports needs.
 *
 * @example
 * ```ts
 * bitmapWords(1001); // 33: 32 words of ports, 1 summary word
 * ```
 */
export function bitmapWords(size: number): number {
  const words = Math.ceil(size / 32);
  return words + Math.ceil(words / 32);
}

function ctz(x: number): number {
  // Index of the lowest set bit of a non-zero 32-bit value.
  return 31 - Math.clz32(x & -x);
}

/** The bitmap: see the module documentation. */
export class PortBitmap {
  /** The lowest port. */
  readonly min: number;
  /** Ports in the range. */
  readonly size: number;
  // Seven fields in all: ten thousand pools hold twenty thousand bitmaps.
  readonly #bits: Uint32Array;
  readonly #base: number;
  /** Where the summary words start: right after the port words. */
  readonly #summaryBase: number;
  #used = 0;
  /** Next-fit: searches start here (an offset into the range). */
  #cursor = 0;

  /**
   * @param slab Storage to use, `bitmapWords(max - min + 1)` words from `offset`; a new array when absent.
   */
  constructor(min: number, max: number, slab?: Uint32Array, offset = 0) {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min) {
      throw new RangeError(`PortBitmap: bad range ${min}-${max}`);
    }
    this.min = min;
    this.size = max - min + 1;
    this.#bits = slab ?? new Uint32Array(bitmapWords(this.size));
    this.#base = offset;
    this.#summaryBase = offset + ((this.size + 31) >>> 5);
    // Bits past `max` in the last word are marked used so they are never found.
    const words = this.#words;
    const tail = this.size % 32;
    if (tail !== 0) this.#bits[offset + words - 1] |= ~((1 << tail) - 1);
    if (tail !== 0 && this.#bits[offset + words - 1] === 0xffffffff) this.#markFull(words - 1);
  }

  /** Where the bits live: the array and the first word (the summary words follow). */
  get storage(): { words: Uint32Array; offset: number } {
    return { words: this.#bits, offset: this.#base };
  }

  /** The highest port. */
  get max(): number {
    return this.min + this.size - 1;
  }

  /** Words of port bits; the summary words follow them. */
  get #words(): number {
    return (this.size + 31) >>> 5;
  }

  /** Ports in use. */
  get used(): number {
    return this.#used;
  }

  /** Ports free. */
  get free(): number {
    return this.size - this.#used;
  }

  /** Whether `port` is in use (false outside the range). */
  has(port: number): boolean {
    const i = port - this.min;
    if (i < 0 || i >= this.size) return false;
    return (this.#bits[this.#base + (i >>> 5)] & (1 << (i & 31))) !== 0;
  }

  /** Marks `port` used; false when it is outside the range or already used. */
  allocate(port: number): boolean {
    const i = port - this.min;
    if (i < 0 || i >= this.size || !Number.isInteger(i)) return false;
    const w = this.#base + (i >>> 5);
    const bit = 1 << (i & 31);
    if ((this.#bits[w] & bit) !== 0) return false;
    this.#bits[w] |= bit;
    this.#used++;
    if (this.#bits[w] === 0xffffffff) this.#markFull(i >>> 5);
    return true;
  }

  /** Takes the next free port at or after the cursor (wrapping); -1 when full. */
  allocateNext(): number {
    const i = this.findFree(this.#cursor);
    if (i < 0) return -1;
    this.allocate(this.min + i);
    this.#cursor = i + 1 === this.size ? 0 : i + 1;
    return this.min + i;
  }

  /** Frees `port`; false when it was not used. */
  release(port: number): boolean {
    const i = port - this.min;
    if (i < 0 || i >= this.size) return false;
    const w = this.#base + (i >>> 5);
    const bit = 1 << (i & 31);
    if ((this.#bits[w] & bit) === 0) return false;
    const wasFull = this.#bits[w] === 0xffffffff;
    this.#bits[w] &= ~bit;
    this.#used--;
    if (wasFull) this.#bits[this.#summaryBase + (i >>> 10)] &= ~(1 << ((i >>> 5) & 31));
    return true;
  }

  #markFull(word: number): void {
    this.#bits[this.#summaryBase + (word >>> 5)] |= 1 << (word & 31);
  }

  /** The cursor, as an offset into the range (for rollback). */
  get cursor(): number {
    return this.#cursor;
  }

  set cursor(offset: number) {
    this.#cursor = offset % this.size;
  }

  /**
   * Offset of the first free port at or after offset `from`, wrapping
   * around; -1 when none. Word-level: a full word costs one summary bit.
   */
  findFree(from: number): number {
    if (this.#used === this.size) return -1;
    const found = this.findFreeIn(from, this.size);
    return found >= 0 ? found : this.findFreeIn(0, from);
  }

  /** First free offset in `[from, to)` (no wrapping), or -1. */
  findFreeIn(from: number, to: number): number {
    if (from < 0) from = 0;
    if (to > this.size) to = this.size;
    if (from >= to) return -1;
    const bits = this.#bits;
    const summaryBase = this.#summaryBase;
    let word = from >>> 5;
    const lastWord = (to - 1) >>> 5;
    // The first word, with bits below `from` treated as used.
    let free = ~bits[this.#base + word] & (~0 << (from & 31));
    while (true) {
      if (free !== 0) {
        const i = (word << 5) + ctz(free);
        return i < to ? i : -1;
      }
      word++;
      if (word > lastWord) return -1;
      // Skip full words 32 at a time through the summary.
      const sw = word >>> 5;
      let summary = bits[summaryBase + sw] | ((1 << (word & 31)) - 1);
      if (summary === 0xffffffff || summary === -1) {
        let s = sw + 1;
        const lastSummary = lastWord >>> 5;
        while (s <= lastSummary && (bits[summaryBase + s] | 0) === -1) s++;
        if (s > lastSummary) return -1;
        summary = bits[summaryBase + s];
        word = (s << 5) + ctz(~summary);
      } else {
        word = (sw << 5) + ctz(~summary);
      }
      if (word > lastWord) return -1;
      free = ~bits[this.#base + word];
    }
  }

  /** Calls `fn` for every used port, ascending. */
  forEach(fn: (port: number) => void): void {
    const words = this.#words;
    for (let w = 0; w < words; w++) {
      let bits = this.#bits[this.#base + w];
      if (w === words - 1 && this.size % 32 !== 0) bits &= (1 << (this.size % 32)) - 1;
      while (bits !== 0) {
        const b = ctz(bits);
        fn(this.min + (w << 5) + b);
        bits &= bits - 1;
      }
    }
  }
}
