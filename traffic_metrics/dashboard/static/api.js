// Reads the SMI metrics API (metrics.smi-spec.io/v1alpha1) and nothing else: the page sees
// exactly what `kubectl get --raw` and `smi stat` see, with the same authorization.

export const GROUP_VERSION = "/apis/metrics.smi-spec.io/v1alpha1";

// Kubernetes quantity strings ("296875m", "2k", "0", "1.5") to numbers.
const SUFFIX = { n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6 };

export function quantity(text) {
  if (typeof text === "number") return text;
  if (typeof text !== "string") return 0;
  const match = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(text.trim());
  if (!match) return 0;
  const scale = SUFFIX[match[2]];
  return scale === undefined ? 0 : Number(match[1]) * scale;
}

// One TrafficMetrics item to plain numbers: every metric by name (the five first, then whatever
// the server adds after them), plus the derived figures a person reads.
export function figures(item) {
  const out = {};
  for (const metric of item.metrics || []) out[metric.name] = quantity(metric.value);
  const windowSeconds = goDuration(item.window || "30s");
  const success = out.success_count || 0;
  const failure = out.failure_count || 0;
  const total = success + failure;
  out.total = total;
  out.window_seconds = windowSeconds;
  out.rps = out.requests_per_second ?? (windowSeconds > 0 ? total / windowSeconds : 0);
  // No traffic in the window: no rate at all (a server may send 0 for it; 0% would read as an outage).
  out.success_rate = total > 0 ? (out.success_rate ?? success / total) : null;
  out.p99 = out.p99_response_latency ?? 0;
  out.p90 = out.p90_response_latency ?? 0;
  out.p50 = out.p50_response_latency ?? 0;
  return out;
}

// "30s", "1m0s", "5m0s", "1h0m0s", "1.5s", "250ms" to seconds.
export function goDuration(text) {
  let seconds = 0;
  const re = /([0-9.]+)(h|ms|m|s|us|µs|ns)/g;
  let match;
  const units = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, "µs": 1e-6, ns: 1e-9 };
  while ((match = re.exec(text)) !== null) seconds += Number(match[1]) * units[match[2]];
  return seconds;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function getJson(path, { signal } = {}) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, signal, credentials: "same-origin" });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.message) message = `${response.status}: ${body.message}`;
    } catch (_) { /* not a Status object */ }
    throw new ApiError(response.status, message);
  }
  return response.json();
}

// A list of one kind, in one namespace or across all of them.
export function listPath(plural, namespace, window) {
  const base = namespace ? `${GROUP_VERSION}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${GROUP_VERSION}/${plural}`;
  return `${base}?window=${encodeURIComponent(window)}`;
}

export function edgesPath(plural, namespace, name, window) {
  return `${GROUP_VERSION}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}/edges?window=${encodeURIComponent(window)}`;
}

// Runs `work` over `items` with at most `limit` in flight (a browser keeps ~6 connections per host).
export async function mapLimited(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  async function lane() {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { ok: true, value: await work(items[index]) };
      } catch (error) {
        results[index] = { ok: false, error };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

// Monitoring levels (monitoring.smi-mesh.io): the level of each namespace and workload, and the
// switch.  A server without the endpoint (404) has no levels: the page then shows no switch.
export const LEVELS_BASE = "/apis/monitoring.smi-mesh.io/v1alpha1";
export const LEVELS = ["off", "golden", "routes"];

// The id the map gives a namespace box or a workload node, for a level item.
export function levelKey(item) {
  return item.kind === "Namespace" ? `ns/${item.name}` : `${item.kind}/${item.namespace}/${item.name}`;
}

export async function getLevels({ signal } = {}) {
  try {
    const answer = await getJson(`${LEVELS_BASE}/levels`, { signal });
    return new Map((answer.items || []).map((item) => [levelKey(item), item]));
  } catch (error) {
    // No level endpoint here (404/405), or this user may not list levels (403): no switch, no error.
    if (error instanceof ApiError && [403, 404, 405].includes(error.status)) return null;
    throw error;
  }
}

// Switch the level of a namespace (kind "Namespace") or a Deployment; `level` null clears it.
export async function setLevel({ kind, namespace, name }, level) {
  const where = kind === "Namespace"
    ? `namespaces/${encodeURIComponent(name)}`
    : `namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}`;
  const response = await fetch(`${LEVELS_BASE}/${where}/level`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ level }),
  });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) throw new ApiError(response.status, (body && body.message) || `${response.status} ${response.statusText}`);
  return body;
}
