/**
 * One controller of the core: a name, its workers and a level-based
 * `reconcile(key)` answering a {@linkcode Result}, run by a
 * {@linkcode WorkQueue} (one key at a time per key, backoff on retry,
 * requeue after). The Pod controller and every provider's own controllers
 * run as these.
 *
 * @example
 * ```ts
 * const pods = new Controller({ name: "pods", workers: 8, reconcile: (key) => podController.reconcile(key), log });
 * pods.start();
 * pods.add("games/gs-0");
 * ```
 * @module
 */

import { WorkQueue } from "./work_queue.ts";
import type { Result } from "../providers/result.ts";

/** Options of {@linkcode Controller}. */
export interface ControllerOptions {
  /** Names it in logs, e.g. `pods` or `dedicatedclblisteners`. */
  name: string;
  /** Keys reconciled at once. */
  workers: number;
  /** Level-based: reads what the key names now, acts, answers. */
  reconcile(key: string): Promise<Result> | Result;
  /** Where a reconcile that threw is reported (the key is retried). */
  log: (message: string) => void;
}

/** See the module documentation. */
export class Controller {
  readonly name: string;
  readonly #queue: WorkQueue;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.#queue = new WorkQueue((key) => options.reconcile(key), {
      workers: options.workers,
      onError: (key, err) => options.log(`${options.name} ${key}: ${(err as Error).message}`),
    });
  }

  /** Keys waiting for a worker. */
  get depth(): number {
    return this.#queue.depth;
  }

  /** Queues `key` (once however often). */
  add(key: string): void {
    this.#queue.add(key);
  }

  /** Starts reconciling. */
  start(): void {
    this.#queue.start();
  }

  /** Stops handing out keys and waits for the reconciles under way. */
  async stop(): Promise<void> {
    await this.#queue.stop();
  }

  /** Resolves when nothing waits or runs. */
  async idle(): Promise<void> {
    await this.#queue.idle();
  }
}
