"""JSON Schemas of the core Kubernetes objects the mesh reads.

Only the fields the mesh uses are typed; every other field is allowed and ignored (these
objects belong to Kubernetes, not to us).
"""

from __future__ import annotations

from smi.schemas._builders import Schema, array, boolean, integer, metadata, opened, port, string, string_map

_PROTOCOL = string(enum=["TCP", "UDP", "SCTP"], **{"x-smi-message": "must be TCP, UDP or SCTP"})


def _core_metadata() -> Schema:
    """``metadata`` of a core object: the common fields plus ``ownerReferences`` (who made it)."""
    meta = metadata()
    owner = opened(
        {"apiVersion": string(), "kind": string(), "name": string(), "controller": boolean()},
        required=("kind", "name"),
    )
    meta["properties"]["ownerReferences"] = array(owner)
    return meta


def _object(api_version: str, kind: str, fields: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    return opened(
        {"apiVersion": string(enum=[api_version]), "kind": string(enum=[kind]), "metadata": _core_metadata(), **fields},
        required=("apiVersion", "kind", "metadata", *required),
    )


def _int_or_name(description: str) -> Schema:
    return {
        "description": description,
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string", "minLength": 1}],
        "x-smi-message": "must be a port number (1..65535) or a port name",
    }


def _pod_spec() -> Schema:
    env = opened(
        {
            "name": string(),
            "value": string(),
            "valueFrom": opened({"fieldRef": opened({"fieldPath": string()}, required=("fieldPath",))}),
        },
        required=("name",),
    )
    container = opened(
        {
            "name": string(),
            "image": string(),
            "command": array(string()),
            "args": array(string()),
            "workingDir": string(),
            "env": array(env),
            "ports": array(
                opened({"containerPort": port(), "name": string(), "protocol": _PROTOCOL}, required=("containerPort",))
            ),
        },
        required=("name",),
    )
    return opened(
        {"serviceAccountName": string(), "serviceAccount": string(), "containers": array(container)},
    )


def namespace() -> Schema:
    return _object("v1", "Namespace", {})


def service_account() -> Schema:
    return _object("v1", "ServiceAccount", {})


def service() -> Schema:
    service_port = opened(
        {
            "name": string(),
            "port": port(),
            "targetPort": _int_or_name("Container port number or name."),
            "protocol": _PROTOCOL,
            "appProtocol": string(),
        },
        required=("port",),
    )
    spec = opened(
        {"ports": array(service_port), "selector": string_map(), "clusterIP": string(), "type": string()},
    )
    return _object("v1", "Service", {"spec": spec})


def pod() -> Schema:
    condition = opened({"type": string(), "status": string()})
    pod_status = opened(
        {"podIP": string(), "phase": string(), "conditions": array(condition)},
    )
    return _object("v1", "Pod", {"spec": _pod_spec(), "status": pod_status})


def replica_set() -> Schema:
    """A ReplicaSet: the mesh reads only its metadata (its controller: a Deployment or an Argo Rollout)."""
    return _object("apps/v1", "ReplicaSet", {})


def deployment() -> Schema:
    template = opened(
        {"metadata": opened({"labels": string_map(), "annotations": string_map()}), "spec": _pod_spec()},
    )
    spec = opened(
        {
            "replicas": integer(minimum=0, maximum=100000),
            "selector": opened({"matchLabels": string_map()}),
            "template": template,
        },
    )
    return _object("apps/v1", "Deployment", {"spec": spec})


def _endpoint_port() -> Schema:
    return opened(
        {"port": port(), "name": string(), "protocol": _PROTOCOL, "appProtocol": string()},
        required=("port",),
    )


def _target_ref() -> Schema:
    return opened({"kind": string(), "name": string(), "namespace": string()})


def endpoints() -> Schema:
    address = opened({"ip": string(), "targetRef": _target_ref()}, required=("ip",))
    subset = opened(
        {"addresses": array(address), "notReadyAddresses": array(address), "ports": array(_endpoint_port())},
    )
    return _object("v1", "Endpoints", {"subsets": array(subset)})


def endpoint_slice() -> Schema:
    endpoint = opened(
        {
            "addresses": array(string(), minItems=1),
            "conditions": opened({"ready": {"type": ["boolean", "null"]}, "serving": boolean()}),
            "targetRef": _target_ref(),
        },
        required=("addresses",),
    )
    return _object(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        {
            "addressType": string(enum=["IPv4", "IPv6", "FQDN"]),
            "endpoints": array(endpoint),
            "ports": array(_endpoint_port()),
        },
        required=("addressType",),
    )
