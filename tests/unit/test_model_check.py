"""model_check: documents checked against botocore's SageMaker model, worded as AWS words it.

No network: these tests only load botocore's model from the installed botocore.
"""

from __future__ import annotations

import base64

import pytest
from botocore.model import ShapeResolver

from proving_ground import model_check
from proving_ground.aws_protocol import service_model

SAGEMAKER = service_model("sagemaker")
ROLE = "arn:aws:iam::123456789012:role/mlflow"


def operation(name):
    return SAGEMAKER.operation_model(name)


def create_request(**overrides):
    request = {"TrackingServerName": "team-a", "ArtifactStoreUri": "s3://bucket/prefix", "RoleArn": ROLE}
    request.update(overrides)
    return request


def describe_answer(**overrides):
    answer = {
        "TrackingServerArn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/team-a",
        "TrackingServerName": "team-a",
        "ArtifactStoreUri": "s3://bucket/prefix",
        "TrackingServerSize": "Small",
        "MlflowVersion": "3.0.0",
        "RoleArn": ROLE,
        "TrackingServerStatus": "Created",
        "IsActive": "Active",
        "TrackingServerUrl": "https://t-abcdefghijkl.us-east-1.experiments.sagemaker.aws",
        "WeeklyMaintenanceWindowStart": "Tue:03:30",
        "AutomaticModelRegistration": False,
        "CreationTime": 1700000000.25,
        "CreatedBy": {"IamIdentity": {"Arn": "arn:aws:sts::123456789012:user/moto", "PrincipalId": "AKIA"}},
        "LastModifiedTime": 1700000100,
        "S3BucketOwnerAccountId": "123456789012",
        "S3BucketOwnerVerification": True,
    }
    answer.update(overrides)
    return answer


# AWS's wording

def test_enum_problem_is_worded_as_aws_words_it():
    problems = model_check.validate_input(operation("CreateMlflowTrackingServer"),
                                          create_request(TrackingServerSize="Huge"))
    assert model_check.validation_error_message(problems) == (
        "1 validation error detected: Value 'Huge' at 'trackingServerSize' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Small, Medium, Large]")


def test_several_problems_are_counted_and_joined_with_semicolons():
    problems = model_check.validate_input(operation("CreateMlflowTrackingServer"),
                                          create_request(TrackingServerSize="Huge",
                                                         WeeklyMaintenanceWindowStart="Mon:25:00"))
    assert model_check.validation_error_message(problems) == (
        "2 validation errors detected: "
        "Value 'Huge' at 'trackingServerSize' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Small, Medium, Large]; "
        "Value 'Mon:25:00' at 'weeklyMaintenanceWindowStart' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: (Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):([0-5]\d)")


def test_pattern_problem_prints_the_models_pattern():
    [problem] = model_check.validate_input(operation("CreateMlflowTrackingServer"),
                                           create_request(RoleArn="my-role-name-is-not-an-arn"))
    assert problem.aws_message() == (
        "Value 'my-role-name-is-not-an-arn' at 'roleArn' failed to satisfy constraint: Member must satisfy "
        r"regular expression pattern: arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")


def test_patterns_must_match_the_whole_value():
    # Java's Pattern.matches semantics: "team_a" contains a match of the name pattern but is not one.
    [problem] = model_check.validate_input(operation("CreateMlflowTrackingServer"),
                                           create_request(TrackingServerName="team_a"))
    assert problem.path == "trackingServerName"
    assert "regular expression pattern" in problem.constraint


def test_value_range_problems_use_aws_wording():
    problems = model_check.validate_input(operation("CreatePresignedMlflowTrackingServerUrl"),
                                          {"TrackingServerName": "team-a", "ExpiresInSeconds": 301,
                                           "SessionExpirationDurationInSeconds": 1799})
    assert [p.aws_message() for p in problems] == [
        "Value '301' at 'expiresInSeconds' failed to satisfy constraint: "
        "Member must have value less than or equal to 300",
        "Value '1799' at 'sessionExpirationDurationInSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1800",
    ]


def test_length_problems_use_aws_wording():
    [problem] = model_check.validate_input(operation("CreateMlflowTrackingServer"),
                                           create_request(MlflowVersion="1" * 17))
    assert problem.aws_message() == (
        f"Value '{'1' * 17}' at 'mlflowVersion' failed to satisfy constraint: "
        "Member must have length less than or equal to 16")


def test_missing_required_member_is_null():
    request = create_request()
    del request["RoleArn"]
    [problem] = model_check.validate_input(operation("CreateMlflowTrackingServer"), request)
    assert problem.aws_message() == "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"


def test_list_items_are_named_as_aws_names_them():
    tags = [{"Key": "ok", "Value": "1"}, {"Key": "bad#key", "Value": "2"}]
    [problem] = model_check.validate_input(operation("CreateMlflowTrackingServer"), create_request(Tags=tags))
    assert problem.path == "tags.2.member.key"
    assert problem.value == "bad#key"


def test_list_length_is_checked():
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    [problem] = model_check.validate_input(operation("CreateMlflowTrackingServer"), create_request(Tags=tags))
    assert problem.path == "tags"
    assert problem.constraint == "Member must have length less than or equal to 50"


def test_unicode_letter_classes_of_java_patterns_are_understood():
    # TagKey's pattern is [\p{L}\p{Z}\p{N}_.:/=+\-@]*: letters of any script, spaces and digits.
    tags = [{"Key": "clé équipe 2", "Value": "données"}]
    assert model_check.validate_input(operation("CreateMlflowTrackingServer"), create_request(Tags=tags)) == []


def test_lower_camel_keeps_the_rest_of_the_name():
    assert model_check.lower_camel("S3BucketOwnerAccountId") == "s3BucketOwnerAccountId"
    assert model_check.lower_camel("TrackingServerSize") == "trackingServerSize"


# types

@pytest.mark.parametrize("member, value", [
    ("TrackingServerName", 42),
    ("AutomaticModelRegistration", "true"),
    ("Tags", {"Key": "a", "Value": "b"}),
])
def test_wrong_json_types_are_type_problems(member, value):
    [problem] = model_check.validate_input(operation("CreateMlflowTrackingServer"), create_request(**{member: value}))
    assert problem.kind == model_check.TYPE


def test_booleans_are_not_integers():
    [problem] = model_check.validate_input(operation("ListMlflowTrackingServers"), {"MaxResults": True})
    assert problem.kind == model_check.TYPE and problem.path == "maxResults"


def test_timestamps_are_epoch_numbers_in_json_protocols():
    ok = model_check.validate_input(operation("ListMlflowTrackingServers"), {"CreatedAfter": 1700000000.5})
    assert ok == []
    [problem] = model_check.validate_input(operation("ListMlflowTrackingServers"),
                                           {"CreatedAfter": "2024-03-16T01:46:56+00:00"})
    assert problem.kind == model_check.TYPE


def test_a_structure_must_be_an_object():
    [problem] = model_check.validate_input(operation("CreateMlflowTrackingServer"), ["not", "an", "object"])
    assert problem.kind == model_check.TYPE and problem.path == ""


def test_maps_check_keys_and_values():
    resolver = ShapeResolver({
        "Labels": {"type": "map", "key": {"shape": "Key"}, "value": {"shape": "Value"}, "max": 2},
        "Key": {"type": "string", "pattern": "[a-z]+"},
        "Value": {"type": "integer", "min": 0},
    })
    shape = resolver.get_shape_by_name("Labels")
    assert model_check.check(shape, {"a": 1}, "labels") == []
    problems = model_check.check(shape, {"A": 1, "b": -1, "c": 0}, "labels")
    assert [p.constraint for p in problems] == [
        "Member must have length less than or equal to 2",
        "Member must satisfy regular expression pattern: [a-z]+",
        "Member must have value greater than or equal to 0",
    ]


def test_blobs_are_base64_and_their_decoded_length_counts():
    resolver = ShapeResolver({"Data": {"type": "blob", "max": 3}})
    shape = resolver.get_shape_by_name("Data")
    assert model_check.check(shape, base64.b64encode(b"abc").decode(), "data") == []
    [too_long] = model_check.check(shape, base64.b64encode(b"abcd").decode(), "data")
    assert too_long.constraint == "Member must have length less than or equal to 3"
    [not_base64] = model_check.check(shape, "not base64!", "data")
    assert not_base64.kind == model_check.TYPE


# requests and answers

def test_requests_may_carry_unknown_members_but_answers_may_not():
    assert model_check.validate_input(operation("CreateMlflowTrackingServer"), create_request(Extra=1)) == []
    [problem] = model_check.validate_output(operation("DescribeMlflowTrackingServer"),
                                            describe_answer(FailureReason="none"))
    assert problem.kind == model_check.UNKNOWN and problem.path == "failureReason"


def test_a_well_formed_answer_has_no_problems():
    assert model_check.validate_output(operation("DescribeMlflowTrackingServer"), describe_answer()) == []


@pytest.mark.parametrize("overrides, path", [
    ({"TrackingServerStatus": "Running"}, "trackingServerStatus"),
    ({"IsActive": True}, "isActive"),
    ({"CreationTime": "2024-03-16T01:46:56Z"}, "creationTime"),
    ({"TrackingServerArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"}, "trackingServerArn"),
    ({"CreatedBy": {"IamIdentity": {"Arn": 5}}}, "createdBy.iamIdentity.arn"),
])
def test_answers_that_aws_could_not_send_are_caught(overrides, path):
    [problem] = model_check.validate_output(operation("DescribeMlflowTrackingServer"), describe_answer(**overrides))
    assert problem.path == path


def test_list_answers_are_checked_item_by_item():
    answer = {"TrackingServerSummaries": [
        {"TrackingServerName": "ok", "TrackingServerStatus": "Created"},
        {"TrackingServerName": "bad", "TrackingServerStatus": "Sleeping"},
    ]}
    [problem] = model_check.validate_output(operation("ListMlflowTrackingServers"), answer)
    assert problem.path == "trackingServerSummaries.2.member.trackingServerStatus"


def test_operations_without_output_members_take_an_empty_answer():
    assert model_check.validate_output(operation("DeleteTags"), {}) == []
    [problem] = model_check.validate_output(operation("DeleteTags"), {"Tags": []})
    assert problem.kind == model_check.UNKNOWN


# errors

def test_declared_and_common_errors_are_allowed():
    assert model_check.check_error_code(operation("StartMlflowTrackingServer"), "ConflictException") is None
    assert model_check.check_error_code(operation("StartMlflowTrackingServer"), "ValidationException") is None
    assert model_check.check_error_code(operation("ListMlflowApps"), "ThrottlingException") is None


def test_undeclared_errors_are_reported():
    reason = model_check.check_error_code(operation("DeleteMlflowApp"), "ConflictException")
    assert reason is not None
    assert "DeleteMlflowApp does not declare the error ConflictException" in reason
    assert "ResourceNotFound" in reason


def test_error_bodies_are_checked():
    op = operation("DescribeMlflowTrackingServer")
    assert model_check.validate_error_body(op, b'{"__type": "ResourceNotFound", "message": "gone"}') == []
    assert model_check.validate_error_body(op, b'{"__type": "com.amazon#ResourceNotFound"}') == []
    assert model_check.validate_error_body(op, b'{"message": "no type"}') == ["the error body has no __type"]
    assert model_check.validate_error_body(op, b"<html>") == ["the error body is not JSON"]
    [reason] = model_check.validate_error_body(op, b'{"__type": "ResourceInUse", "message": "x"}')
    assert "does not declare the error ResourceInUse" in reason
