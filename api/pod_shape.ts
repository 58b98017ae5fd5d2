/**
 * Checks, at the webhook's edge, that an AdmissionReview's `request.object`
 * has the shape of a Pod as far as gamenet reads it, so that a malformed
 * review is refused with the field that is wrong instead of failing deep
 * inside with a JavaScript error. The API server only sends well-formed
 * Pods; this guards against anything else reaching the port.
 *
 * @example
 * ```ts
 * podShapeProblem({ metadata: {}, spec: { containers: "gs" } });
 * // "request.object.spec.containers is a string; expected a list"
 * ```
 * @module
 */

type Check = (value: unknown, path: string) => string | undefined;

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const object: Check = (v, path) =>
  isObject(v) ? undefined : `${path} is ${kindOf(v)}; expected an object`;
const string: Check = (v, path) =>
  typeof v === "string" ? undefined : `${path} is ${kindOf(v)}; expected a string`;
const boolean: Check = (v, path) =>
  typeof v === "boolean" ? undefined : `${path} is ${kindOf(v)}; expected true or false`;
const port: Check = (v, path) =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535
    ? undefined
    : `${path} is ${typeof v === "number" ? v : kindOf(v)}; expected a port number`;

/** Each entry of a list must pass `check`. */
const listOf = (check: Check): Check => (v, path) => {
  if (!Array.isArray(v)) return `${path} is ${kindOf(v)}; expected a list`;
  for (let i = 0; i < v.length; i++) {
    const problem = check(v[i], `${path}[${i}]`);
    if (problem) return problem;
  }
  return undefined;
};

/** A map of strings (labels, annotations). */
const stringMap: Check = (v, path) => {
  const problem = object(v, path);
  if (problem) return problem;
  for (const [k, value] of Object.entries(v as Record<string, unknown>)) {
    if (typeof value !== "string") return string(value, `${path}[${JSON.stringify(k)}]`);
  }
  return undefined;
};

/** An object whose listed fields, where present (not null), pass their checks. */
const fields = (spec: Record<string, Check>, required: string[] = []): Check => (v, path) => {
  const problem = object(v, path);
  if (problem) return problem;
  const o = v as Record<string, unknown>;
  for (const name of required) {
    if (o[name] === undefined || o[name] === null) return `${path}.${name} is missing`;
  }
  for (const [name, check] of Object.entries(spec)) {
    if (o[name] === undefined || o[name] === null) continue;
    const found = check(o[name], `${path}.${name}`);
    if (found) return found;
  }
  return undefined;
};

const containerPort = fields({
  name: string,
  containerPort: port,
  hostPort: port,
  protocol: string,
  hostIP: string,
}, ["containerPort"]);

const container = fields({ name: string, ports: listOf(containerPort) }, ["name"]);

const podShape = fields({
  kind: string,
  metadata: fields({
    name: string,
    generateName: string,
    namespace: string,
    uid: string,
    labels: stringMap,
    annotations: stringMap,
  }),
  spec: fields({
    nodeName: string,
    hostNetwork: boolean,
    containers: listOf(container),
  }, ["containers"]),
}, ["metadata", "spec"]);

/**
 * Why `object` (an AdmissionReview's `request.object`) is not a Pod gamenet
 * can read, naming the field; undefined when it is one.
 *
 * @example
 * ```ts
 * const problem = podShapeProblem(review.request.object);
 * if (problem) return deny(400, `gamenet cannot read the Pod: ${problem}`);
 * ```
 */
export function podShapeProblem(object: unknown): string | undefined {
  if (object === undefined || object === null) {
    return "request.object is missing; expected the Pod being created";
  }
  const problem = podShape(object, "request.object");
  if (problem) return problem;
  const kind = (object as { kind?: string }).kind;
  if (kind !== undefined && kind !== "Pod") return `request.object.kind is "${kind}"; expected Pod`;
  return undefined;
}
