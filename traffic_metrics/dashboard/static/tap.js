// Recent requests of the selected workload: the tap endpoint (tap.smi-mesh.io) read as an
// ndjson stream while a workload is selected, the last LIMIT events kept for the details panel.

export const TAP_BASE = "/apis/tap.smi-mesh.io/v1alpha1";
const LIMIT = 20;
const PLURAL = { Deployment: "deployments", Pod: "pods" };

export function tapPath(node, rate = 10) {
  const plural = PLURAL[node.kind];
  if (!plural) return null;
  return `${TAP_BASE}/namespaces/${encodeURIComponent(node.namespace)}/${plural}/${encodeURIComponent(node.name)}/tap?rate=${rate}`;
}

export class TapFeed {
  constructor(onChange) {
    this.onChange = onChange;
    this.key = null;
    this.events = [];
    this.error = null;
    this.ended = null; // the sidecar's end line: tap is off at the workload's monitoring level
    this.controller = null;
  }

  // Follow `node` (a model node) or stop following (null); a no-op when already on it, unless
  // the stream was ended by the monitoring level and `level` (the node's, when known) is routes again.
  follow(node, level = null) {
    const path = node ? tapPath(node) : null;
    if (path === this.key && !(this.ended && level === "routes")) return;
    this.stop();
    this.key = path;
    this.events = [];
    this.error = null;
    this.ended = null;
    if (path) this.read(path, new AbortController());
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.key = null;
  }

  async read(path, controller) {
    this.controller = controller;
    try {
      const response = await fetch(path, { signal: controller.signal, credentials: "same-origin" });
      if (!response.ok) {
        let message = `${response.status}`;
        try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
        throw new Error(message);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (!line) continue;
          const parsed = JSON.parse(line);
          if (parsed.end) { this.ended = parsed.end; continue; } // not an event: why the stream ends
          this.events.unshift(parsed);
          if (this.events.length > LIMIT) this.events.pop();
        }
        if (this.controller === controller) this.onChange();
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      this.error = error.message;
      if (this.controller === controller) this.onChange();
    }
  }
}
