/**
 * The allocator's one error type: a code a program can switch on and a
 * message a person can act on. A failed call leaves the allocator exactly
 * as it was.
 *
 * @example
 * ```ts
 * try {
 *   pool.allocate("default/gs-0", { ports: [{ protocol: "UDP" }] });
 * } catch (err) {
 *   if (err instanceof AllocationError && err.code === "exhausted") console.log(err.message);
 * }
 * ```
 * @module
 */

/** Why an allocation failed. */
export type AllocationErrorCode =
  /** Malformed request: no ports, a count that is not positive, an unknown protocol. */
  | "invalid-request"
  /** A named port outside the pool's range. */
  | "out-of-range"
  /** More ports than the range holds. */
  | "too-many"
  /** Not enough free ports. */
  | "exhausted"
  /** Enough ports exist, but some are only waiting out their reuse delay; see `retryAfterMs`. */
  | "exhausted-delayed"
  /** A named port is held by another owner; see `owners`. */
  | "conflict"
  /** A named port was freed recently and waits out its reuse delay; see `retryAfterMs`. */
  | "port-delayed"
  /** The owner already holds a different set of ports. */
  | "owner-mismatch"
  /** No pool with that key or range name. */
  | "unknown-pool"
  /** A port range that is not `min-max` within 1-65535, or named ranges that overlap. */
  | "invalid-range";

/** An allocation failure: see the module documentation. */
export class AllocationError extends Error {
  readonly code: AllocationErrorCode;
  /** For `conflict`: the owner holding the port, then the one asking. */
  readonly owners?: readonly string[];
  /** For `exhausted-delayed` and `port-delayed`: milliseconds until the port(s) come back. */
  readonly retryAfterMs?: number;

  constructor(
    code: AllocationErrorCode,
    message: string,
    details: { owners?: string[]; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = "AllocationError";
    this.code = code;
    this.owners = details.owners;
    this.retryAfterMs = details.retryAfterMs;
  }
}
