"""Google API errors, shaped as each family of APIs shapes them.

Every Google API answers errors as ``{"error": {"code", "message", "status", "details"}}``
(``google.rpc.Status`` in JSON). The proto-backed APIs ("oneplatform": Cloud Run v2, IAP, Secret
Manager, IAM, Service Usage, Resource Manager) stop there; the older JSON APIs ("apiary": Compute,
Cloud SQL v1beta4) add the legacy ``errors: [{"message", "domain", "reason"}]`` list, and Cloud
Storage has that list but no ``status``.
"""

from __future__ import annotations

from typing import Optional

STATUS_BY_CODE = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED",
                  500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE"}
REASON_BY_STATUS = {"INVALID_ARGUMENT": "badRequest", "FAILED_PRECONDITION": "failedPrecondition",
                    "NOT_FOUND": "notFound", "ALREADY_EXISTS": "alreadyExists", "ABORTED": "aborted",
                    "UNAUTHENTICATED": "required", "PERMISSION_DENIED": "forbidden", "INTERNAL": "backendError",
                    "UNIMPLEMENTED": "notImplemented", "RESOURCE_EXHAUSTED": "rateLimitExceeded"}


class ApiError(Exception):
    """An error answer. ``reason``: the legacy reason of apiary APIs (``invalid``,
    ``resourceInUseByAnotherResource``...); ``violations``: (field, description) pairs for a
    ``google.rpc.BadRequest`` detail."""

    def __init__(self, code: int, message: str, status: Optional[str] = None, reason: Optional[str] = None,
                 violations: Optional[list] = None, details: Optional[list] = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_BY_CODE.get(code, "UNKNOWN")
        self.reason = reason
        self.violations = violations or []
        self.details = details or []

    def document(self, style: str = "oneplatform") -> dict:
        error = {"code": self.code, "message": self.message}
        if style != "storage":
            error["status"] = self.status
        if style in ("apiary", "storage"):
            error["errors"] = [{"message": self.message, "domain": "global",
                                "reason": self.reason or REASON_BY_STATUS.get(self.status, "invalid")}]
        details = list(self.details)
        if self.violations and style != "storage":
            details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                            "fieldViolations": [{"field": field, "description": description}
                                                for field, description in self.violations]})
        if details:
            error["details"] = details
        return {"error": error}


def not_found(message: str, reason: str = "notFound") -> ApiError:
    return ApiError(404, message, "NOT_FOUND", reason)


def invalid(message: str, reason: str = "invalid", violations: Optional[list] = None) -> ApiError:
    return ApiError(400, message, "INVALID_ARGUMENT", reason, violations)
