/**
 * Equality as JSON, map keys in any order: what decides whether gamenet
 * has anything to write (a status, an owned object's field). It runs on
 * every reconcile of every Pod, a resync's 100,000 included, so it walks
 * both values once instead of serialising them with sorted keys.
 *
 * @example
 * ```ts
 * sameJson({ a: 1, b: [2] }, { b: [2], a: 1 }); // true
 * sameJson({ a: undefined }, {}); // true: JSON leaves the field out
 * ```
 * @module
 */

/** Whether `a` and `b` serialise to the same JSON once map keys are sorted. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    // JSON writes an undefined element as null.
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i] ?? null, b[i] ?? null)) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let fields = 0;
  for (const k in x) {
    if (!present(x[k])) continue;
    fields++;
    if (!sameJson(x[k], y[k])) return false;
  }
  for (const k in y) if (present(y[k])) fields--;
  return fields === 0;
}

/** Whether JSON writes the field at all. */
function present(v: unknown): boolean {
  return v !== undefined && typeof v !== "function" && typeof v !== "symbol";
}
