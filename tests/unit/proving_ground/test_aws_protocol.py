"""How the proving ground recognises AWS requests and words AWS errors (no server, no network)."""

import io
import json

import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest

from proving_ground.aws_protocol import AwsRequest, error_response, is_mutating, match_rest_operation


def _environ_from_botocore(service, operation, params):
    """Build the WSGI environ of the request boto3 would send, signed as boto3 signs it."""
    session = botocore.session.get_session()
    client = session.create_client(service, region_name="eu-west-1", endpoint_url="http://127.0.0.1:1",
                                   aws_access_key_id="testing", aws_secret_access_key="testing")
    captured = {}

    def capture(request: AWSPreparedRequest, **kwargs):
        captured["request"] = request
        raise _Captured()

    client.meta.events.register("before-send", capture)
    with pytest.raises(_Captured):
        getattr(client, operation)(**params)
    request = captured["request"]
    path, dummy, query = request.url.split("127.0.0.1:1", 1)[1].partition("?")
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    environ = {
        "REQUEST_METHOD": request.method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in request.headers.items():
        value = value.decode() if isinstance(value, bytes) else value
        if name.lower() == "content-type":
            environ["CONTENT_TYPE"] = value
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ, body


class _Captured(Exception):
    pass


@pytest.mark.parametrize("service, operation, params, expected_service, expected_operation", [
    ("sagemaker", "describe_mlflow_tracking_server", {"TrackingServerName": "t"}, "sagemaker",
     "DescribeMlflowTrackingServer"),
    ("ecs", "create_cluster", {"clusterName": "c"}, "ecs", "CreateCluster"),
    ("rds", "describe_db_clusters", {}, "rds", "DescribeDBClusters"),
    ("ec2", "create_vpc", {"CidrBlock": "10.0.0.0/16"}, "ec2", "CreateVpc"),
    ("elbv2", "describe_load_balancers", {}, "elbv2", "DescribeLoadBalancers"),
    ("elb", "describe_load_balancers", {}, "elb", "DescribeLoadBalancers"),
    ("efs", "create_file_system", {"CreationToken": "t"}, "efs", "CreateFileSystem"),
    ("efs", "describe_tags", {"FileSystemId": "fs-1"}, "efs", "DescribeTags"),
    ("s3", "put_object", {"Bucket": "bucket", "Key": "a/b", "Body": b"x"}, "s3", "PutObject"),
    ("s3", "copy_object", {"Bucket": "bucket", "Key": "a/b", "CopySource": "other/k"}, "s3", "CopyObject"),
    ("s3", "put_bucket_versioning", {"Bucket": "bucket", "VersioningConfiguration": {"Status": "Enabled"}},
     "s3", "PutBucketVersioning"),
    ("logs", "create_log_group", {"logGroupName": "g"}, "logs", "CreateLogGroup"),
    ("application-autoscaling", "describe_scalable_targets", {"ServiceNamespace": "ecs"},
     "application-autoscaling", "DescribeScalableTargets"),
])
def test_requests_are_identified_as_botocore_sends_them(service, operation, params, expected_service,
                                                        expected_operation):
    environ, body = _environ_from_botocore(service, operation, params)
    request = AwsRequest.from_environ(environ, body)
    assert (request.service, request.operation, request.region) == (expected_service, expected_operation,
                                                                    "eu-west-1")


def test_json_protocol_parameters_are_decoded():
    environ, body = _environ_from_botocore("sagemaker", "describe_mlflow_tracking_server",
                                           {"TrackingServerName": "team-a"})
    assert AwsRequest.from_environ(environ, body).params == {"TrackingServerName": "team-a"}


def test_query_protocol_parameters_are_decoded():
    environ, body = _environ_from_botocore("rds", "describe_db_clusters", {"DBClusterIdentifier": "c1"})
    assert AwsRequest.from_environ(environ, body).params["DBClusterIdentifier"] == "c1"


@pytest.mark.parametrize("operation, mutating", [
    ("DescribeDBClusters", False), ("ListTagsForResource", False), ("GetCallerIdentity", False),
    ("HeadObject", False), ("CreateBucket", True), ("PutObject", True), ("DeleteMlflowApp", True),
    ("UpdateService", True), (None, True),
])
def test_mutating_operations(operation, mutating):
    assert is_mutating(operation) is mutating


def test_rest_matching_prefers_the_most_specific_route():
    assert match_rest_operation("s3", "PUT", "/bucket", {"versioning": ""}) == "PutBucketVersioning"
    assert match_rest_operation("s3", "PUT", "/bucket", {}) == "CreateBucket"
    assert match_rest_operation("s3", "PUT", "/bucket/key", {}, {"x-amz-copy-source": "a/b"}) == "CopyObject"
    assert match_rest_operation("s3", "PUT", "/bucket/key", {}) == "PutObject"
    assert match_rest_operation("efs", "POST", "/2015-02-01/create-tags/fs-1", {}) == "CreateTags"
    assert match_rest_operation("efs", "DELETE", "/2015-02-01/no-such-thing", {}) is None


@pytest.mark.parametrize("method, query, expected", [
    ("DELETE", {}, "DeleteObject"),
    ("DELETE", {"uploadId": "u"}, "AbortMultipartUpload"),
    ("PUT", {"partNumber": "1", "uploadId": "u"}, "UploadPart"),
    ("GET", {}, "GetObject"),
    ("GET", {"uploadId": "u"}, "ListParts"),
    ("POST", {"uploadId": "u"}, "CompleteMultipartUpload"),
    ("POST", {"uploads": ""}, "CreateMultipartUpload"),
])
def test_rest_matching_needs_the_required_query_parameters(method, query, expected):
    """An operation whose required query-string members are missing is not the one asked for."""
    assert match_rest_operation("s3", method, "/bucket/key", query) == expected


@pytest.mark.parametrize("scheme, secure", [("https", True), ("http", False)])
def test_a_request_knows_whether_it_came_over_tls(scheme, secure):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "", "wsgi.input": io.BytesIO(b""),
               "wsgi.url_scheme": scheme, "REMOTE_ADDR": "127.0.0.1"}
    request = AwsRequest.from_environ(environ, b"")
    assert (request.secure, request.source_ip) == (secure, "127.0.0.1")


@pytest.mark.parametrize("service, operation, params, code", [
    ("sagemaker", "describe_mlflow_tracking_server", {"TrackingServerName": "t"}, "ThrottlingException"),
    ("ecs", "create_cluster", {"clusterName": "c"}, "ThrottlingException"),
    ("rds", "describe_db_clusters", {}, "Throttling"),
    ("ec2", "describe_vpcs", {}, "RequestLimitExceeded"),
    ("s3", "list_buckets", {}, "SlowDown"),
    ("efs", "describe_file_systems", {}, "ThrottlingException"),
])
def test_errors_parse_in_botocore_as_the_code_they_carry(service, operation, params, code):
    """Each protocol's error shape, parsed by botocore's own response parser, yields the code."""
    from botocore import parsers

    environ, body = _environ_from_botocore(service, operation, params)
    request = AwsRequest.from_environ(environ, body)
    response = error_response(request, code, "Rate exceeded", 503 if code == "SlowDown" else 400)
    model = botocore.session.get_session().get_service_model(service)
    operation_model = model.operation_model(request.operation)
    parser = parsers.create_parser(model.metadata["protocol"])
    parsed = parser.parse({"status_code": response.status, "headers": dict(response.headers),
                           "body": response.body}, operation_model.output_shape)
    assert parsed["Error"]["Code"] == code


def test_json_error_body():
    environ, body = _environ_from_botocore("sagemaker", "describe_mlflow_tracking_server", {"TrackingServerName": "t"})
    response = error_response(AwsRequest.from_environ(environ, body), "ResourceNotFound", "gone")
    assert response.status == 400
    assert json.loads(response.body) == {"__type": "ResourceNotFound", "message": "gone"}
