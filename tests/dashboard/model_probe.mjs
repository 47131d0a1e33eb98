// Runs the page's pure model code under node: JSON input on stdin, the model on stdout.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const graph = await import(pathToFileURL(process.argv[2]).href);
const input = JSON.parse(readFileSync(0, "utf-8"));
const model = graph.buildModel(input);
const labels = Object.fromEntries(model.edges.map((e) => [e.id, graph.edgeLabel(e)]));
process.stdout.write(JSON.stringify({ model, labels, namespaces: graph.namespacesOf(model) }));
