/**
 * A count per slot with its minimum always at hand: a complete binary tree
 * over the counts in one `Int32Array` (leaf `leaves + i` holds slot `i`,
 * each inner node the smaller of its two children). Changing a count and
 * finding the first slot at or after a position whose count is at most a
 * bound both cost O(log size), so a choice among thousands of ports never
 * scans them.
 *
 * @example
 * ```ts
 * const tree = new MinTree(1001);
 * tree.add(0, 2);
 * tree.min; // 0: slots 1..1000 are unused
 * tree.firstAtMost(0, tree.min); // 1
 * ```
 * @module
 */

/** Larger than any count: padding leaves, and slots hidden from one search. */
const HIDDEN = 0x3fffffff;

/** The tree: see the module documentation. */
export class MinTree {
  /** Slots. */
  readonly size: number;
  readonly #counts: Int32Array;
  readonly #tree: Int32Array;
  readonly #leaves: number;

  constructor(size: number) {
    this.size = size;
    this.#counts = new Int32Array(size);
    let leaves = 1;
    while (leaves < size) leaves *= 2;
    this.#leaves = leaves;
    this.#tree = new Int32Array(2 * leaves).fill(HIDDEN);
    this.#tree.fill(0, leaves, leaves + size);
    for (let j = leaves - 1; j >= 1; j--) {
      this.#tree[j] = Math.min(this.#tree[2 * j], this.#tree[2 * j + 1]);
    }
  }

  /** The smallest count of any slot not hidden. */
  get min(): number {
    return this.#tree[1];
  }

  /** The count of slot `i` (hidden or not). */
  get(i: number): number {
    return this.#counts[i];
  }

  /**
   * Adds `delta` to slot `i`'s count.
   *
   * @example
   * ```ts
   * tree.add(7, -1);
   * ```
   */
  add(i: number, delta: number): void {
    const c = this.#counts[i] + delta;
    this.#counts[i] = c;
    this.#setLeaf(i, c);
  }

  /**
   * Adds `delta` to slot `i`'s count without fixing the tree: for many
   * changes at once, followed by {@linkcode MinTree.rebuild}.
   */
  adjust(i: number, delta: number): void {
    this.#counts[i] += delta;
  }

  /** Recomputes the whole tree from the counts: O(size), cheaper than many `add`s. */
  rebuild(): void {
    const tree = this.#tree;
    tree.set(this.#counts, this.#leaves);
    for (let j = this.#leaves - 1; j >= 1; j--) tree[j] = Math.min(tree[2 * j], tree[2 * j + 1]);
  }

  /** Keeps slot `i` out of searches until {@linkcode MinTree.show} (its count is kept). */
  hide(i: number): void {
    this.#setLeaf(i, HIDDEN);
  }

  /** Makes a hidden slot searchable again. */
  show(i: number): void {
    this.#setLeaf(i, this.#counts[i]);
  }

  /** Sets leaf `i` and fixes its ancestors, stopping at the first one unchanged. */
  #setLeaf(i: number, value: number): void {
    const tree = this.#tree;
    let j = this.#leaves + i;
    tree[j] = value;
    while (j > 1) {
      const parent = j >>> 1;
      const m = Math.min(tree[j], tree[j ^ 1]);
      if (tree[parent] === m) return;
      tree[parent] = m;
      j = parent;
    }
  }

  /**
   * The first slot at or after `from` whose count is at most `bound`, or -1.
   * Slots before `from` are not looked at: wrap around by asking again from 0.
   *
   * @example
   * ```ts
   * const i = tree.firstAtMost(cursor, tree.min);
   * ```
   */
  firstAtMost(from: number, bound: number): number {
    const tree = this.#tree;
    let j = this.#leaves + from;
    if (tree[j] <= bound) return from;
    // Climb until a right sibling holds a small enough leaf, then descend to its leftmost one.
    while (true) {
      if ((j & 1) === 0 && tree[j + 1] <= bound) {
        j++;
        break;
      }
      j >>>= 1;
      if (j <= 1) return -1;
    }
    while (j < this.#leaves) j = tree[2 * j] <= bound ? 2 * j : 2 * j + 1;
    return j - this.#leaves;
  }
}
