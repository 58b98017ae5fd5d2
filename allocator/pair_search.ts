/**
 * The search `TCPUDP` needs: the first port free in both protocols, found
 * by leapfrogging between the TCP and the UDP bitmap (each jump a
 * word-level scan), never port by port.
 *
 * @example
 * ```ts
 * findFreeInBoth(tcp, udp, 0, tcp.size); // the first offset free in both, or -1
 * ```
 * @module
 */

import type { PortBitmap } from "./port_bitmap.ts";

/** First offset in `[from, to)` free in both bitmaps, or -1. */
export function findFreeInBoth(tcp: PortBitmap, udp: PortBitmap, from: number, to: number): number {
  let i = from;
  while (true) {
    const a = tcp.findFreeIn(i, to);
    if (a < 0) return -1;
    const b = udp.findFreeIn(a, to);
    if (b < 0) return -1;
    if (a === b) return a;
    i = b;
  }
}
