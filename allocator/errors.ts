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
  /** The owner already holds a different set of ports. */
  | "owner-mismatch"
  /** No pool with that key or range name. */
  | "unknown-pool";

/** An allocation failure: see the module documentation. */
export class AllocationError extends Error {
  readonly code: AllocationErrorCode;
  /** For `conflict`: the owner holding the port, then the one asking. */
  readonly owners?: readonly string[];
  /** For `exhausted-delayed`: when the earliest delayed port comes back. */
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
