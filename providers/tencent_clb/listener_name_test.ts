import assert from "node:assert/strict";
import { dclListenerName, parseListenerName, podListenerName } from "./listener_name.ts";

Deno.test("parseListenerName() reads back what podListenerName() wrote, Fixed or not", () => {
  const plain = { namespace: "games", pod: "gs-0", containerPort: 7777, protocol: "UDP" as const };
  assert.deepEqual(parseListenerName(podListenerName(plain)), { kind: "pod", ...plain });
  for (const apiVersion of ["apps/v1", "game.kruise.io/v1alpha1", "v1"]) {
    const fixed = { ...plain, fixed: { apiVersion, kind: "StatefulSet", name: "gs", uid: "u-1" } };
    assert.deepEqual(parseListenerName(podListenerName(fixed)), { kind: "pod", ...fixed });
  }
  assert.deepEqual(parseListenerName(dclListenerName("demo", "gameserver-0-9000")), {
    kind: "dcl",
    namespace: "demo",
    name: "gameserver-0-9000",
  });
});

Deno.test("parseListenerName() leaves names that are not gamenet's alone", () => {
  for (
    const name of [
      undefined,
      "",
      "web-443",
      "gamenet/games/gs-0/7777",
      "gamenet/games/gs-0/99999/UDP",
      "gamenet/games/gs-0/7777/SCTP",
      "gamenet/games/gs-0/7777/UDP/extra",
      "gamenet-dcl/demo",
    ]
  ) assert.equal(parseListenerName(name), undefined, String(name));
});
