"""The mutating admission webhook: ``POST /inject`` answers ``admission.k8s.io/v1`` AdmissionReviews.

The answer is always ``allowed: true`` with, when the pod gets a sidecar, ``patchType:
JSONPatch`` and the base64 JSON Patch from :func:`smi.injection.inject`.  It never fails
closed because of something it does not understand: a body that is not a pod we can patch
(or any unexpected error) is allowed without a patch and logged.  The one refusal is a pod
that asks for injection with an unreadable exclusion annotation (``allowed: false``, code
400, the message naming the pod, the annotation and the reason): admitting it would run
it silently outside the mesh.  A request body that is not an AdmissionReview at all gets
HTTP 400; the API server then applies the webhook's ``failurePolicy: Ignore``.

Mount with ``add_routes(app, settings=...)`` on the control plane's TLS webhook server
(the conversion webhook lives beside it), or run ``make_app`` on its own.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from smi.injection.deciding import InvalidAnnotation, MalformedPod, pod_name, skip_reason
from smi.injection.injecting import inject
from smi.injection.settings import InjectionSettings

logger = logging.getLogger(__name__)

INJECT_PATH = "/inject"
API_VERSION = "admission.k8s.io/v1"
MAX_BODY = 4 * 1024 * 1024  # pods with large inline env can be big; 4 MiB is well above them
SETTINGS_KEY = web.AppKey("injection_settings", InjectionSettings)


class NotAReview(ValueError):
    """The body is not an ``admission.k8s.io/v1`` AdmissionReview request."""


def _envelope(uid: str, response: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": {"uid": uid, **response}}


def review_response(review: Any, *, settings: InjectionSettings) -> dict[str, Any]:
    """The AdmissionReview to send back for ``review`` (pure; raises ``NotAReview``)."""
    if not isinstance(review, Mapping) or review.get("kind") != "AdmissionReview":
        raise NotAReview("expected a JSON AdmissionReview object")
    request = review.get("request")
    if not isinstance(request, Mapping) or not isinstance(request.get("uid"), str):
        raise NotAReview("AdmissionReview.request.uid is missing")
    uid: str = request["uid"]
    kind = request.get("kind") if isinstance(request.get("kind"), Mapping) else {}
    assert isinstance(kind, Mapping)
    if kind.get("kind") != "Pod" or request.get("operation", "CREATE") != "CREATE":
        return _envelope(uid, {"allowed": True})
    pod = request.get("object")
    namespace = str(request.get("namespace") or "")
    try:
        reason = skip_reason(pod) if isinstance(pod, Mapping) else "the request carries no pod object"
        if reason is not None:
            logger.debug("Not injecting pod %s: %s", pod_name(pod, namespace=namespace), reason)
            return _envelope(uid, {"allowed": True})
        assert isinstance(pod, Mapping)
        ops = inject(pod, settings=settings, namespace=namespace)
    except InvalidAnnotation as e:
        logger.warning("Refusing pod: %s", e)
        return _envelope(uid, {"allowed": False, "status": {"code": 400, "message": str(e)}})
    except MalformedPod as e:
        logger.warning("Not injecting pod %s: malformed: %s", pod_name(pod, namespace=namespace), e)
        return _envelope(uid, {"allowed": True})
    except Exception:  # never fail closed on something we do not understand
        logger.exception("Not injecting pod %s: unexpected error", pod_name(pod, namespace=namespace))
        return _envelope(uid, {"allowed": True})
    logger.info("Injecting the sidecar into pod %s", pod_name(pod, namespace=namespace))
    patch = base64.b64encode(json.dumps(ops, separators=(",", ":")).encode()).decode()
    return _envelope(uid, {"allowed": True, "patchType": "JSONPatch", "patch": patch})


async def handle_inject(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS_KEY]
    try:
        review = json.loads(await request.read())
        answer = review_response(review, settings=settings)
    except (ValueError, UnicodeDecodeError) as e:  # json errors and NotAReview
        logger.warning("Bad admission request: %s", str(e)[:256])
        return web.json_response({"error": f"bad AdmissionReview: {str(e)[:256]}"}, status=400)
    return web.json_response(answer)


def add_routes(app: web.Application, *, settings: InjectionSettings) -> None:
    app[SETTINGS_KEY] = settings
    app.router.add_post(INJECT_PATH, handle_inject)


def make_app(*, settings: InjectionSettings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    add_routes(app, settings=settings)
    return app
