import assert from "node:assert/strict";
import { AdmissionLedger } from "./admission_ledger.ts";

const admission = (at: number) => ({
  namespace: "games",
  pod: "gs-*",
  type: "Kubernetes-HostPort",
  at,
});

Deno.test("takeDue() returns only admissions at or before the cutoff whose Pod is not live", () => {
  const ledger = new AdmissionLedger();
  ledger.record("admission/a", admission(1_000));
  ledger.record("admission/b", admission(2_000));
  ledger.record("admission/c", admission(3_000));
  assert.deepEqual(ledger.takeDue(999, () => false), []);
  const due = ledger.takeDue(2_000, (owner) => owner === "admission/b");
  assert.deepEqual(due.map(([owner]) => owner), ["admission/a"]);
  assert.equal(ledger.get("admission/b"), undefined, "a live one is done with too");
  assert.deepEqual(ledger.get("admission/c"), admission(3_000));
  assert.equal(ledger.size, 1);
});

Deno.test("record() keeps the first time of an owner and seen() forgets it", () => {
  const ledger = new AdmissionLedger();
  ledger.record("admission/a", admission(1_000));
  ledger.record("admission/a", admission(5_000));
  assert.equal(ledger.get("admission/a")!.at, 1_000);
  ledger.seen("admission/a");
  assert.deepEqual(ledger.takeDue(10_000, () => false), []);
});
