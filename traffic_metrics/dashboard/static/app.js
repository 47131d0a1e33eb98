// The page's loop: every 2 s (unless paused) read the metrics API, rebuild the model, redraw.

import { ApiError, edgesPath, getJson, getLevels, listPath, mapLimited, setLevel } from "./api.js";
import { WORKLOAD_KINDS, buildModel, namespacesOf } from "./graph.js";
import { TrafficMap } from "./map.js";
import { showDetails } from "./details.js";
import { TapFeed } from "./tap.js";

const REFRESH_MS = Math.max(250, Number(new URLSearchParams(location.search).get("refresh")) || 2000);
const PLURAL = { Deployment: "deployments", StatefulSet: "statefulsets", DaemonSet: "daemonsets", Statefulset: "statefulsets", Daemonset: "daemonsets" };

const state = { paused: false, namespace: "", window: "30s", model: null, levels: null, selected: null, renders: [], errors: 0, updates: 0 };
window.smiDashboard = state;

const $ = (id) => document.getElementById(id);
const tap = new TapFeed(() => showSelected());
state.tap = tap;
function showSelected() {
  const node = state.model && state.selected ? state.model.nodes.find((n) => n.id === state.selected) : null;
  const level = node && state.levels ? state.levels.get(node.id) : null;
  tap.follow(node || null, level ? level.level : null);
  showDetails($("details"), state.model, state.selected, node ? tap : null,
    { levels: state.levels, onLevel: switchLevel, levelError: state.levelError });
}

// The monitoring switch of the details panel: POST the level, then redraw with what the server says.
async function switchLevel(target, level) {
  state.levelError = null;
  try {
    await setLevel(target, level);
    state.levels = await getLevels();
    tap.follow(null); // re-open the tap stream: the sidecar ends it when tap goes off, and allows it again at routes
  } catch (error) {
    state.levelError = `cannot set the monitoring level: ${error.message}`;
  }
  if (state.model) map.render(state.model, state.namespace, state.levels);
  showSelected();
}
state.switchLevel = switchLevel;
const map = new TrafficMap($("map"), { onSelect: (id) => { state.selected = id; showSelected(); } });
state.map = map; // the browser test reads what is drawn (classes, labels) from map.cy

async function listKind(plural) {
  try {
    return (await getJson(listPath(plural, state.namespace, state.window))).items || [];
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return [];
    throw error;
  }
}

async function load() {
  const [workloadLists, splits, levels] = await Promise.all([
    Promise.all(WORKLOAD_KINDS.map(listKind)),
    listKind("trafficsplits"),
    getLevels().catch(() => state.levels), // levels are an extra: the map draws without them
  ]);
  state.levels = levels;
  const workloads = workloadLists.flat();
  const edgeAnswers = await mapLimited(workloads, 6, (item) => {
    const r = item.resource;
    return getJson(edgesPath(PLURAL[r.kind] || `${r.kind.toLowerCase()}s`, r.namespace, r.name, state.window));
  });
  const edgeLists = edgeAnswers.filter((a) => a.ok).map((a) => a.value);
  return buildModel({ workloads, edgeLists, splits });
}

function refreshNamespaces(model) {
  const select = $("namespace");
  const known = new Set([...select.options].map((o) => o.value));
  for (const ns of namespacesOf(model)) {
    if (!known.has(ns)) select.add(new Option(ns, ns));
  }
}

async function tick() {
  if (state.paused) return;
  try {
    const loadStarted = performance.now();
    const model = await load();
    const loadMs = performance.now() - loadStarted;
    if (state.paused) return;
    const started = performance.now();
    state.model = model;
    const drawn = map.render(model, state.namespace, state.levels);
    state.renders.push({ ms: performance.now() - started, loadMs, elements: drawn });
    if (state.renders.length > 100) state.renders.shift();
    refreshNamespaces(model);
    if (state.selected) showSelected();
    state.updates += 1;
    $("status").textContent = `updated ${new Date().toLocaleTimeString()} · ${model.nodes.length} workloads · ${model.edges.length} edges · window ${state.window}`;
    $("status").className = "";
    document.body.dataset.updates = String(state.updates);
  } catch (error) {
    state.errors += 1;
    $("status").textContent = `cannot read the metrics API: ${error.message}`;
    $("status").className = "error";
  }
}

$("namespace").addEventListener("change", (e) => { state.namespace = e.target.value; map.layoutKey = ""; tick(); });
$("window").addEventListener("change", (e) => { state.window = e.target.value; tick(); });
$("pause").addEventListener("click", () => {
  state.paused = !state.paused;
  $("pause").textContent = state.paused ? "Resume" : "Pause";
  $("pause").setAttribute("aria-pressed", String(state.paused));
  if (!state.paused) tick();
});

let timer = null;
async function loop() {
  await tick();
  timer = setTimeout(loop, REFRESH_MS);
}
loop();
window.addEventListener("beforeunload", () => clearTimeout(timer));
