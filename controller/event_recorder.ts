/**
 * Kubernetes Events for what a user must act on. Repeats of the same event
 * on the same object are folded into one Event whose `count` grows, as
 * client-go's recorder does, so a Pod stuck on an exhausted pool shows one
 * line in `kubectl describe`, not hundreds. Recording never throws: an
 * Event is worth less than the reconcile that wanted to write it.
 *
 * @example
 * ```ts
 * const events = new EventRecorder(client, { instance: "gamenet-7d9c-abcde" });
 * await events.warning(podRef, "PortsExhausted", "No free host port in range default (8000-9000)");
 * ```
 * @module
 */

import type { KubeClient } from "./kube_client.ts";

/** The object an Event is about. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

/** Options of {@linkcode EventRecorder}. */
export interface EventRecorderOptions {
  /** `source.component` / `reportingComponent`. @default {"gamenet"} */
  component?: string;
  /** `reportingInstance`, e.g. the Pod name. @default {""} */
  instance?: string;
  /** A repeat within this window bumps the count instead of adding an Event. @default {600_000} */
  foldWindowMs?: number;
  /** @default {console.error} */
  log?: (message: string) => void;
}

interface Folded {
  name: string;
  count: number;
  at: number;
}

const MAX_FOLDED = 10_000;

/** The recorder: see the module documentation. */
export class EventRecorder {
  readonly #client: KubeClient;
  readonly #component: string;
  readonly #instance: string;
  readonly #foldWindowMs: number;
  readonly #log: (message: string) => void;
  readonly #folded = new Map<string, Folded>();
  #recorded = 0;

  constructor(client: KubeClient, options: EventRecorderOptions = {}) {
    this.#client = client;
    this.#component = options.component ?? "gamenet";
    this.#instance = options.instance ?? "";
    this.#foldWindowMs = options.foldWindowMs ?? 600_000;
    this.#log = options.log ?? ((m) => console.error(m));
  }

  /** Events written or folded so far. */
  get recorded(): number {
    return this.#recorded;
  }

  /** Records a `Warning` event. */
  warning(ref: ObjectRef, reason: string, message: string): Promise<void> {
    return this.record(ref, "Warning", reason, message);
  }

  /** Records an event, folding it into an earlier identical one. */
  async record(
    ref: ObjectRef,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    const key = [ref.uid ?? `${ref.namespace}/${ref.name}`, type, reason, message].join("\u0000");
    const now = Date.now();
    const ts = new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z");
    const folded = this.#folded.get(key);
    const base = `/api/v1/namespaces/${ref.namespace}/events`;
    try {
      if (folded && now - folded.at < this.#foldWindowMs) {
        folded.count++;
        folded.at = now;
        await this.#client.request("PATCH", `${base}/${folded.name}`, {
          body: { count: folded.count, lastTimestamp: ts },
          contentType: "application/merge-patch+json",
        });
      } else {
        const name = `${ref.name}.${now.toString(16)}${
          Math.floor(Math.random() * 0xffff).toString(16)
        }`;
        await this.#client.request("POST", base, {
          body: {
            apiVersion: "v1",
            kind: "Event",
            metadata: { name, namespace: ref.namespace },
            involvedObject: ref,
            type,
            reason,
            message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
            source: { component: this.#component },
            reportingComponent: this.#component,
            reportingInstance: this.#instance,
            firstTimestamp: ts,
            lastTimestamp: ts,
            count: 1,
          },
        });
        if (this.#folded.size >= MAX_FOLDED) this.#folded.delete(this.#folded.keys().next().value!);
        this.#folded.set(key, { name, count: 1, at: now });
      }
      this.#recorded++;
    } catch (err) {
      // The folded Event may have expired (Events live an hour): start a new one next time.
      this.#folded.delete(key);
      this.#log(
        `Event ${reason} on ${ref.kind} ${ref.namespace}/${ref.name} not recorded: ${
          (err as Error).message
        }`,
      );
    }
  }
}
