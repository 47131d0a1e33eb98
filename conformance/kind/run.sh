#!/usr/bin/env bash
# Create a kind cluster, install smi-mesh into it, deploy the demo and run the conformance
# scenarios against it.  Needs: docker (or podman via KIND_EXPERIMENTAL_PROVIDER), kind,
# kubectl, python3 with the project installed (pip install -e '.[dev]').
#
#   conformance/kind/run.sh            # create (or reuse) the cluster, install, test
#   KEEP_CLUSTER=0 conformance/kind/run.sh   # delete the cluster afterwards
#
# See conformance/kind/README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CLUSTER="${CLUSTER:-smi-mesh}"
IMAGE="${IMAGE:-smi-mesh:latest}"
DEMO_IMAGE="${DEMO_IMAGE:-smi-mesh/demo:latest}"
NAMESPACE="smi-system"
TEST_NAMESPACE="${TEST_NAMESPACE:-bookstore}"
MESH_LABEL="smi-mesh.io/monitored-by"
KEEP_CLUSTER="${KEEP_CLUSTER:-1}"
TIMEOUT="${TIMEOUT:-180s}"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

for tool in kind kubectl python3 smi; do
  command -v "$tool" >/dev/null || die "$tool is required (see conformance/kind/README.md)"
done
ENGINE="${KIND_EXPERIMENTAL_PROVIDER:-docker}"
command -v "$ENGINE" >/dev/null || die "$ENGINE is required to build the image and run kind"

WORK="$(mktemp -d)"
cleanup() {
  rm -rf "$WORK"
  if [ "$KEEP_CLUSTER" = 0 ]; then kind delete cluster --name "$CLUSTER" || true; fi
}
trap cleanup EXIT

log "cluster $CLUSTER"
if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config "$HERE/kind-config.yaml" --wait "$TIMEOUT"
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "image $IMAGE (also tagged $DEMO_IMAGE for manifests/demo)"
"$ENGINE" build -t "$IMAGE" "$REPO"
"$ENGINE" tag "$IMAGE" "$DEMO_IMAGE"
kind load docker-image --name "$CLUSTER" "$IMAGE" "$DEMO_IMAGE"

log "control plane: smi install (CRDs, RBAC, two controller replicas with a Lease, webhooks, CA Secrets)"
# The webhook serving certificates are issued and rotated by the control plane itself from
# Secret smi-webhook-ca; the controller's leader keeps every caBundle equal to it.
smi install --image "$IMAGE" --image-pull-policy IfNotPresent
kubectl -n "$NAMESPACE" rollout status deployment/smi-controller --timeout="$TIMEOUT"
kubectl -n "$NAMESPACE" wait --for=condition=Available deployment/smi-controller --timeout="$TIMEOUT"
smi install --image "$IMAGE" --image-pull-policy IfNotPresent | grep -v ' unchanged$' | grep -v ' kept$' \
  | grep -v '^smi install: 0 object' && die "a second smi install changed something"
# the metrics API server (issue 10) registers v1alpha1.metrics.smi-spec.io; until it runs,
# smi check reports that APIService as not Available
smi check || log "smi check reported problems (see above)"

log "test namespace $TEST_NAMESPACE (smi namespace add: label $MESH_LABEL, its new pods get a sidecar)"
kubectl create namespace "$TEST_NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
smi namespace add "$TEST_NAMESPACE"

if [ -d "$REPO/manifests/demo" ]; then
  log "demo manifests"
  kubectl apply -f "$REPO/manifests/demo/"
  kubectl -n "$TEST_NAMESPACE" wait --for=condition=Available deployment --all --timeout="$TIMEOUT"
  # every demo pod must have been injected
  if kubectl -n "$TEST_NAMESPACE" get pods -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.containers[*].name}{"\n"}{end}' \
      | grep -v ' .*smi-proxy' | grep .; then
    die "the pods above have no smi-proxy sidecar: is the webhook reachable? (kubectl -n $NAMESPACE logs deploy/smi-controller -c webhook)"
  fi
fi

log "conformance scenarios"
cd "$REPO"
python3 -m pytest conformance/ --kube -v
smi check --proxy -A
