/**
 * The test game server as a container of a Pod on a real node: the image
 * the harness builds (`tests/controlplane/images/gameserver`), never
 * pulled, told its Pod's name and where to listen, and Ready once it
 * listens. It answers every UDP datagram and TCP connection with
 * "<pod> <protocol> <port>" (see `player.ts`).
 *
 * @example
 * ```ts
 * const container = { name: "gs", ports, ...gameServerContainer("7777,7778") };
 * ```
 * @module
 */

import { NODE_IMAGES } from "../controlplane/assets.ts";

/**
 * Container fields for a game server listening on `listen` (ports and
 * ranges, "7777,9000-9029"), UDP and TCP on each.
 */
export function gameServerContainer(listen: string): Record<string, unknown> {
  const probePort = Number(listen.split(/[,-]/)[0]);
  return {
    image: NODE_IMAGES.gameServer,
    imagePullPolicy: "Never",
    env: [
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "GAME_PORTS", value: listen },
    ],
    // It answers TCP on every port it serves, UDP ones included.
    readinessProbe: { tcpSocket: { port: probePort }, periodSeconds: 1 },
  };
}
