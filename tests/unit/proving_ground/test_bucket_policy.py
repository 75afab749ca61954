"""Bucket policy evaluation as S3 does it (``proving_ground.bucket_policy``), without a server."""

import pytest

from proving_ground.bucket_policy import ALLOW, DENY, RequestContext, UnsupportedCondition, condition_matches, evaluate

ACCOUNT = "123456789012"
BUCKET = "arn:aws:s3:::artifacts"
OBJECT = f"{BUCKET}/mlflow/1/model.pkl"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlflow"
TLS_ONLY = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
ALLOW_ROLE = {"Sid": "AllowRole", "Effect": "Allow", "Principal": {"AWS": ROLE},
              "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{BUCKET}/*"}


def context(secure=True, principal=f"arn:aws:iam::{ACCOUNT}:root", account=ACCOUNT, role=None, **values):
    values = dict({"aws:SecureTransport": "true" if secure else "false"}, **values)
    if principal:
        values.update({"aws:PrincipalArn": role or principal, "aws:PrincipalAccount": account})
    return RequestContext(principal_arn=principal, account=account if principal else None, role_arn=role, values=values)


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def session(name="deploy"):
    return context(principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/mlflow/{name}", role=ROLE)


@pytest.mark.parametrize("secure, expected", [(True, None), (False, DENY)])
def test_the_tls_only_statement_denies_only_without_tls(secure, expected):
    assert evaluate(policy(TLS_ONLY), "s3:PutObject", OBJECT, context(secure=secure)) == expected


@pytest.mark.parametrize("secure, expected", [(True, ALLOW), (False, DENY)])
def test_an_explicit_deny_wins_over_an_allow(secure, expected):
    requester = session()
    requester.values["aws:SecureTransport"] = "true" if secure else "false"
    assert evaluate(policy(TLS_ONLY, ALLOW_ROLE), "s3:GetObject", OBJECT, requester) == expected


def test_an_allow_for_someone_else_neither_allows_nor_denies():
    assert evaluate(policy(ALLOW_ROLE), "s3:GetObject", OBJECT, context()) is None


def test_a_deny_for_someone_else_does_not_deny():
    other = {"Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam::999999999999:root"]}, "Action": "s3:*",
             "Resource": "*"}
    assert evaluate(policy(other), "s3:GetObject", OBJECT, context()) is None
    outsider = context(principal="arn:aws:iam::999999999999:user/x", account="999999999999")
    assert evaluate(policy(other), "s3:GetObject", OBJECT, outsider) == DENY


@pytest.mark.parametrize("principal, requester, matches", [
    ("*", context(), True),
    ({"AWS": "*"}, context(principal=None), True),
    ({"AWS": ACCOUNT}, context(), True),
    ({"AWS": ACCOUNT}, session(), True),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, session(), True),
    ({"AWS": ROLE}, session(), True),
    ({"AWS": ROLE}, context(), False),
    ({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/mlflow/deploy"}, session("other"), False),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, context(principal=f"arn:aws:iam::{ACCOUNT}:user/alice"), True),
    ({"AWS": ACCOUNT}, context(principal=None), False),
    ({"Service": "ecs-tasks.amazonaws.com"}, context(), False),
])
def test_principals(principal, requester, matches):
    statement = {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": OBJECT}
    assert evaluate(policy(statement), "s3:GetObject", OBJECT, requester) == (ALLOW if matches else None)


def test_not_principal_not_action_and_not_resource():
    statement = {"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "NotAction": "s3:GetObject",
                 "NotResource": f"{BUCKET}/public/*"}
    assert evaluate(policy(statement), "s3:PutObject", OBJECT, context()) == DENY
    assert evaluate(policy(statement), "s3:PutObject", OBJECT, session()) is None
    assert evaluate(policy(statement), "s3:GetObject", OBJECT, context()) is None
    assert evaluate(policy(statement), "s3:PutObject", f"{BUCKET}/public/x", context()) is None


def test_actions_match_without_case_and_with_wildcards_resources_with_case():
    statement = {"Effect": "Allow", "Principal": "*", "Action": "S3:get*", "Resource": f"{BUCKET}/mlflow/?/*"}
    assert evaluate(policy(statement), "s3:GetObject", OBJECT, context()) == ALLOW
    assert evaluate(policy(statement), "s3:PutObject", OBJECT, context()) is None
    assert evaluate(policy(statement), "s3:GetObject", OBJECT.replace("mlflow", "MLflow"), context()) is None
    assert evaluate({"Statement": statement}, "s3:GetObject", OBJECT, context()) == ALLOW  # one statement, no list


@pytest.mark.parametrize("operator, key, expected, values, matches", [
    ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "false"}, True),
    ("Bool", "aws:SecureTransport", False, {"aws:SecureTransport": "false"}, True),
    ("Bool", "aws:securetransport", "false", {"aws:SecureTransport": "true"}, False),
    ("Bool", "aws:SecureTransport", "false", {}, False),
    ("BoolIfExists", "aws:SecureTransport", "false", {}, True),
    ("StringEquals", "aws:PrincipalAccount", [ACCOUNT, "1"], {"aws:PrincipalAccount": ACCOUNT}, True),
    ("StringNotEquals", "aws:PrincipalAccount", ACCOUNT, {"aws:PrincipalAccount": ACCOUNT}, False),
    ("StringNotEquals", "aws:PrincipalAccount", ACCOUNT, {}, True),
    ("StringEqualsIgnoreCase", "s3:x-amz-acl", "PRIVATE", {"s3:x-amz-acl": "private"}, True),
    ("StringLike", "aws:PrincipalArn", "arn:aws:iam::*:role/ml*", {"aws:PrincipalArn": ROLE}, True),
    ("StringNotLike", "aws:PrincipalArn", "arn:aws:iam::*:role/ml*", {"aws:PrincipalArn": ROLE}, False),
    ("ArnNotEquals", "aws:PrincipalArn", ROLE, {"aws:PrincipalArn": ROLE}, False),
    ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:role/*", {"aws:PrincipalArn": ROLE}, True),
    ("NumericLessThan", "s3:max-keys", "10", {"s3:max-keys": "5"}, True),
    ("NumericGreaterThanEquals", "s3:max-keys", "10", {"s3:max-keys": "x"}, False),
    ("IpAddress", "aws:SourceIp", "127.0.0.0/8", {"aws:SourceIp": "127.0.0.1"}, True),
    ("NotIpAddress", "aws:SourceIp", ["10.0.0.0/8"], {"aws:SourceIp": "127.0.0.1"}, True),
    ("Null", "s3:x-amz-server-side-encryption", "true", {}, True),
    ("Null", "s3:x-amz-server-side-encryption", "false", {}, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["b", "a"]}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["b", "a"]}, False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a"], {}, True),
])
def test_condition_operators(operator, key, expected, values, matches):
    assert condition_matches(operator, key, expected, RequestContext(values=values)) is matches


def test_conditions_combine_with_and():
    statement = {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": OBJECT, "Condition": {
        "Bool": {"aws:SecureTransport": "true"},
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}}
    assert evaluate(policy(statement), "s3:PutObject", OBJECT, context()) == DENY
    assert evaluate(policy(statement), "s3:PutObject", OBJECT,
                    context(**{"s3:x-amz-server-side-encryption": "aws:kms"})) is None
    assert evaluate(policy(statement), "s3:PutObject", OBJECT, context(secure=False)) is None


def test_an_unknown_operator_leaves_its_statement_out_and_says_so():
    statement = {"Sid": "Dated", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                 "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}
    heard = []
    assert evaluate(policy(statement, ALLOW_ROLE), "s3:GetObject", OBJECT, session(),
                    unsupported=lambda statement, error: heard.append((statement["Sid"], str(error)))) == ALLOW
    assert heard == [("Dated", "DateGreaterThan")]
    with pytest.raises(UnsupportedCondition):
        condition_matches("ForSomeValues:StringEquals", "k", "v", RequestContext())
