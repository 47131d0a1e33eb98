#!/usr/bin/env bash
# Create a kind cluster, install smi-mesh into it, deploy the demo and run the conformance
# scenarios against it.  Needs: docker (or podman via KIND_EXPERIMENTAL_PROVIDER), kind,
# kubectl, openssl, python3 with the project installed (pip install -e '.[dev]').
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

for tool in kind kubectl openssl python3; do
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

log "webhook certificate (a CA of its own; its certificate becomes every caBundle)"
SERVICE_DNS="smi-controller.$NAMESPACE.svc"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=smi-mesh-webhook-ca" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$SERVICE_DNS" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local,DNS:smi-controller.%s\nextendedKeyUsage=serverAuth\n' \
  "$SERVICE_DNS" "$SERVICE_DNS" "$NAMESPACE" >"$WORK/ext.cnf"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 365 -extfile "$WORK/ext.cnf" -out "$WORK/tls.crt" 2>/dev/null
CA_BUNDLE="$(base64 <"$WORK/ca.crt" | tr -d '\n')"

log "CRDs and control plane"
kubectl apply -f "$REPO/manifests/crds/"
kubectl apply -f "$REPO/manifests/install/namespace.yaml"
kubectl -n "$NAMESPACE" create secret tls smi-webhook-tls \
  --cert="$WORK/tls.crt" --key="$WORK/tls.key" --dry-run=client -o yaml | kubectl apply -f -
# The mesh's CA: made once here, kept in Secret smi-ca; re-running keeps the same trust.
if ! kubectl -n "$NAMESPACE" get secret smi-ca >/dev/null 2>&1; then
  smi ca init --dir "$WORK/mesh-ca" --trust-domain cluster.local
  kubectl -n "$NAMESPACE" create secret generic smi-ca --from-file="$WORK/mesh-ca"
fi
kubectl apply -k "$REPO/manifests/install/"
kubectl patch mutatingwebhookconfiguration smi-mesh-sidecar-injector --type=json \
  -p "[{\"op\": \"add\", \"path\": \"/webhooks/0/clientConfig/caBundle\", \"value\": \"$CA_BUNDLE\"}]"
for crd in $(kubectl get crd -o name | grep 'smi-spec.io$'); do
  if [ "$(kubectl get "$crd" -o jsonpath='{.spec.conversion.strategy}')" = Webhook ]; then
    kubectl patch "$crd" --type=json \
      -p "[{\"op\": \"add\", \"path\": \"/spec/conversion/webhook/clientConfig/caBundle\", \"value\": \"$CA_BUNDLE\"}]"
  fi
done
kubectl -n "$NAMESPACE" rollout restart deployment/smi-controller  # pick up a re-created Secret
kubectl -n "$NAMESPACE" rollout status deployment/smi-controller --timeout="$TIMEOUT"
kubectl -n "$NAMESPACE" wait --for=condition=Available deployment/smi-controller --timeout="$TIMEOUT"

log "test namespace $TEST_NAMESPACE (labelled $MESH_LABEL: its new pods get a sidecar)"
kubectl create namespace "$TEST_NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$TEST_NAMESPACE" "$MESH_LABEL=smi-mesh" --overwrite

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
