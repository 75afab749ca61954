"""Evaluating an S3 bucket policy for one request, as S3 does (the part that a bucket policy decides).

moto 5.2.5 gets this wrong (see ``moto_fixes.S3BucketPolicyEvaluation``); this module is the
replacement: a pure function of the policy, the action, the resource and the request's context.

A statement *applies* to a request when all of these match: ``Action`` (or ``NotAction``),
``Resource`` (or ``NotResource``), ``Principal`` (or ``NotPrincipal``) and every ``Condition``. Among
the statements that apply, an explicit Deny wins over any Allow; an Allow grants; none leaves the
decision to the rest of the authorization (IAM policies, ACLs), which the proving ground does not
enforce (IAM Policy evaluation logic, "Determining whether a request is allowed or denied within an
account", in the IAM User Guide).

Principals ("Specifying a principal in a policy", S3 User Guide): ``"*"`` and ``{"AWS": "*"}``
match every requester, anonymous ones included; an account (``123456789012`` or
``arn:aws:iam::123456789012:root``) matches every identity of that account; a user or role ARN
matches that user, or sessions of that role; ``Service``, ``Federated`` and ``CanonicalUser``
principals match no IAM identity.

Conditions (IAM JSON policy elements: Condition operators): several operators, several keys of one
operator and several values of one key combine as AND, AND, OR; a negated operator (``StringNotEquals``,
``ArnNotLike``, ``NotIpAddress``...) matches when no value matches. A key missing from the request
makes the condition false, except for negated operators, ``...IfExists`` and ``Null`` (then true, true
and as asked). Supported operators: the String, Arn, Bool, Numeric, IpAddress and Null families with
``IfExists`` and ``ForAnyValue:`` / ``ForAllValues:``. Keys are matched case-insensitively; the
context offers ``aws:SecureTransport``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``,
``aws:SourceIp`` and the request's ``x-amz-*`` headers as ``s3:x-amz-*``. A statement with an
operator outside those (dates, binary) is reported through ``unsupported`` and does not apply.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Callable, Iterable, Optional

ALLOW = "Allow"
DENY = "Deny"

_ACCOUNT_ROOT = re.compile(r"^arn:[^:]+:iam::(\d{12}):root$")


class UnsupportedCondition(ValueError):
    """A condition operator that this evaluator does not know."""


@dataclass
class RequestContext:
    """Who asks and how. ``principal_arn`` None: an anonymous request."""

    principal_arn: Optional[str] = None
    account: Optional[str] = None
    role_arn: Optional[str] = None  # the role of an assumed-role session
    values: dict = field(default_factory=dict)  # condition key -> str or list of str

    def value(self, key: str):
        wanted = key.lower()
        for name, value in self.values.items():
            if name.lower() == wanted:
                return value
        return None


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _wildcard(pattern: str, text: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, text, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL) is not None


# --- the elements of a statement -------------------------------------------------------------------


def _action_matches(statement: dict, action: str) -> bool:
    if "NotAction" in statement:
        return not any(_wildcard(pattern, action, ignore_case=True) for pattern in _as_list(statement["NotAction"]))
    return any(_wildcard(pattern, action, ignore_case=True) for pattern in _as_list(statement.get("Action")))


def _resource_matches(statement: dict, resource: str) -> bool:
    if "NotResource" in statement:
        return not any(_wildcard(pattern, resource) for pattern in _as_list(statement["NotResource"]))
    if "Resource" not in statement:
        return True
    return any(_wildcard(pattern, resource) for pattern in _as_list(statement["Resource"]))


def _aws_principal_matches(value: str, context: RequestContext) -> bool:
    if value == "*":
        return True
    if context.principal_arn is None:  # anonymous: only "*" names it
        return False
    if re.fullmatch(r"\d{12}", value):
        return value == context.account
    root = _ACCOUNT_ROOT.match(value)
    if root:
        return root.group(1) == context.account
    return value in (context.principal_arn, context.role_arn)


def principal_matches(principal, context: RequestContext) -> bool:
    """Whether a policy's ``Principal`` value names the requester."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return any(_aws_principal_matches(str(value), context) for value in _as_list(principal.get("AWS")))


def _principal_applies(statement: dict, context: RequestContext) -> bool:
    if "NotPrincipal" in statement:
        return not principal_matches(statement["NotPrincipal"], context)
    if "Principal" not in statement:
        return True
    return principal_matches(statement["Principal"], context)


# --- conditions -------------------------------------------------------------------------------------


def _numeric(compare: Callable[[Decimal, Decimal], bool]) -> Callable[[str, str], bool]:
    def match(actual: str, expected: str) -> bool:
        try:
            return compare(Decimal(actual), Decimal(expected))
        except InvalidOperation:
            return False
    return match


def _ip_in(actual: str, expected: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


def _like(actual: str, expected: str) -> bool:
    return _wildcard(expected, actual)


# operator (without IfExists and set prefixes) -> (match one actual against one expected, negated)
_OPERATORS = {
    "StringEquals": (lambda a, e: a == e, False),
    "StringNotEquals": (lambda a, e: a == e, True),
    "StringEqualsIgnoreCase": (lambda a, e: a.lower() == e.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda a, e: a.lower() == e.lower(), True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_like, False),
    "ArnLike": (_like, False),
    "ArnNotEquals": (_like, True),
    "ArnNotLike": (_like, True),
    "Bool": (lambda a, e: a.lower() == e.lower(), False),
    "NumericEquals": (_numeric(lambda a, e: a == e), False),
    "NumericNotEquals": (_numeric(lambda a, e: a == e), True),
    "NumericLessThan": (_numeric(lambda a, e: a < e), False),
    "NumericLessThanEquals": (_numeric(lambda a, e: a <= e), False),
    "NumericGreaterThan": (_numeric(lambda a, e: a > e), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, e: a >= e), False),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
}


def condition_matches(operator: str, key: str, expected, context: RequestContext) -> bool:
    """One key of one condition operator, e.g. ``("Bool", "aws:SecureTransport", "false")``."""
    set_operator = None
    base = operator
    if ":" in base:
        set_operator, base = base.split(":", 1)
        if set_operator not in ("ForAnyValue", "ForAllValues"):
            raise UnsupportedCondition(operator)
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[:-len("IfExists")]
    expected_values = [_as_text(value) for value in _as_list(expected)]
    actual = context.value(key)
    if base == "Null":
        return (actual is None) == (expected_values[0].lower() == "true" if expected_values else True)
    if base not in _OPERATORS:
        raise UnsupportedCondition(operator)
    match, negated = _OPERATORS[base]
    if actual is None:
        return if_exists or negated or set_operator == "ForAllValues"
    actual_values = [_as_text(value) for value in _as_list(actual)]

    def one(value: str) -> bool:
        return any(match(value, wanted) for wanted in expected_values)

    if set_operator == "ForAllValues":
        hit = all(one(value) for value in actual_values)
    else:
        hit = any(one(value) for value in actual_values)
    return not hit if negated else hit


def _conditions_apply(statement: dict, context: RequestContext) -> bool:
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, expected in (keys or {}).items():
            if not condition_matches(operator, key, expected, context):
                return False
    return True


# --- the policy -------------------------------------------------------------------------------------


def statement_applies(statement: dict, action: str, resource: str, context: RequestContext) -> bool:
    return (_action_matches(statement, action) and _resource_matches(statement, resource)
            and _principal_applies(statement, context) and _conditions_apply(statement, context))


def evaluate(policy: dict, action: str, resource: str, context: RequestContext,
             unsupported: Optional[Callable[[dict, Exception], None]] = None) -> Optional[str]:
    """``"Deny"`` when a Deny statement applies, else ``"Allow"`` when an Allow applies, else None.

    ``unsupported(statement, error)`` hears of a statement left out for an unknown operator."""
    decision = None
    for statement in _statements(policy):
        try:
            applies = statement_applies(statement, action, resource, context)
        except UnsupportedCondition as error:
            if unsupported is not None:
                unsupported(statement, error)
            continue
        if not applies:
            continue
        if statement.get("Effect") == DENY:
            return DENY
        if statement.get("Effect") == ALLOW:
            decision = ALLOW
    return decision


def _statements(policy: dict) -> Iterable[dict]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)
