import assert from "node:assert/strict";
import fc from "fast-check";
import { testSeed } from "../tests/test_seed.ts";
import { bitmapWords, PortBitmap } from "./port_bitmap.ts";

Deno.test("findFree() skips full words through the summary and wraps", () => {
  const bits = new PortBitmap(0, 99_999);
  for (let p = 0; p < 70_000; p++) bits.allocate(p);
  assert.equal(bits.findFree(0), 70_000);
  bits.release(5);
  assert.equal(bits.findFree(80_000), 80_000);
  for (let p = 70_000; p < 100_000; p++) bits.allocate(p);
  assert.equal(bits.findFree(50_000), 5, "wraps to the only free port");
  assert.equal(bits.free, 1);
  bits.allocate(5);
  assert.equal(bits.findFree(0), -1, "full");
});

Deno.test("allocateNext() is next-fit: a freed port comes back last", () => {
  const bits = new PortBitmap(10, 13);
  assert.equal(bits.allocateNext(), 10);
  assert.equal(bits.allocateNext(), 11);
  bits.release(10);
  assert.equal(bits.allocateNext(), 12);
  assert.equal(bits.allocateNext(), 13);
  assert.equal(bits.allocateNext(), 10, "wrapped to the freed one");
  assert.equal(bits.allocateNext(), -1);
});

Deno.test("allocate() and release() report whether anything changed", () => {
  const bits = new PortBitmap(100, 163);
  assert.equal(bits.allocate(100), true);
  assert.equal(bits.allocate(100), false, "already used");
  assert.equal(bits.allocate(99), false, "below the range");
  assert.equal(bits.allocate(164), false, "above the range");
  assert.equal(bits.release(101), false, "was free");
  assert.equal(bits.release(100), true);
  assert.equal(bits.has(100), false);
  assert.equal(bits.has(5), false, "outside the range: not used");
  assert.equal(bits.used, 0);
});

Deno.test("forEach() lists used ports ascending and never the padding past max", () => {
  const seen: number[] = [];
  const bits = new PortBitmap(10, 45);
  bits.allocate(45);
  bits.allocate(10);
  bits.allocate(31);
  bits.forEach((p) => seen.push(p));
  assert.deepEqual(seen, [10, 31, 45]);
  assert.equal(bits.free, 33);
});

Deno.test("PortBitmap on a shared slab stays inside its own words", () => {
  const words = bitmapWords(1001);
  const slab = new Uint32Array(2 * words);
  const a = new PortBitmap(7000, 8000, slab, 0);
  const b = new PortBitmap(7000, 8000, slab, words);
  for (let p = 7000; p <= 8000; p++) a.allocate(p);
  assert.equal(a.findFree(0), -1);
  assert.equal(b.findFree(0), 0, "the neighbour is untouched");
  assert.equal(b.free, 1001);
  assert.deepEqual(b.storage, { words: slab, offset: words });
});

Deno.test("findFreeIn() matches a port-by-port scan on random bitmaps", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3_000 }),
      fc.array(fc.nat(), { maxLength: 3_000 }),
      fc.nat(),
      fc.nat(),
      (size, used, a, b) => {
        const bits = new PortBitmap(1, size);
        const ref = new Uint8Array(size);
        // Fill densely in runs so whole words and summary words become full.
        for (const u of used) {
          const start = u % size;
          for (let i = start; i < Math.min(size, start + (u % 97)); i++) {
            bits.allocate(1 + i);
            ref[i] = 1;
          }
        }
        const from = a % (size + 1);
        const to = from + (b % (size + 1 - from + 1));
        let want = -1;
        for (let i = from; i < Math.min(to, size); i++) {
          if (!ref[i]) {
            want = i;
            break;
          }
        }
        assert.equal(bits.findFreeIn(from, to), want);
        assert.equal(bits.used, ref.reduce((x, y) => x + y, 0));
      },
    ),
    { numRuns: 500, seed: testSeed() },
  );
});

Deno.test("new PortBitmap() refuses a bad range", () => {
  assert.throws(() => new PortBitmap(5, 4), RangeError);
  assert.throws(() => new PortBitmap(1.5, 4), RangeError);
});
