"""mlops.mlflow.efs_access_point run by ansible-playbook against the proving ground.

Each test runs the module as a user would (a playbook on localhost, the AWS endpoint from the environment alone)
and checks what EFS holds afterwards through boto3, and what the module asked of EFS through the proving ground's
request log.
"""

from __future__ import annotations

import pytest

from helpers.ansible import run_tasks

pytestmark = pytest.mark.slow

MODULE = "mlops.mlflow.efs_access_point"
POSIX_USER = {"uid": 1000, "gid": 1000}
ROOT = {"path": "/mlflow", "creation_info": {"owner_uid": 1000, "owner_gid": 1000, "permissions": "0750"}}


def task(args, **keywords):
    """A task of the module (keywords: check_mode, diff, ignore_errors, name...)."""
    return dict({MODULE: {key: value for key, value in args.items() if value is not None}}, **keywords)


@pytest.fixture
def play(aws, tmp_path):
    def tasks(tasks, check=False, diff=False):
        return run_tasks(tmp_path, aws.child_environment(), tasks, check=check, diff=diff)
    return tasks


@pytest.fixture
def file_system(aws):
    return aws.client("efs").create_file_system(CreationToken="mlflow", Encrypted=True)["FileSystemId"]


def args_for(file_system_id, **changes):
    args = {"file_system_id": file_system_id, "name": "mlflow", "posix_user": POSIX_USER, "root_directory": ROOT}
    args.update(changes)
    return args


def access_points(aws, file_system_id):
    """The file system's access points as EFS describes them, by ID."""
    found = aws.client("efs").describe_access_points(FileSystemId=file_system_id)["AccessPoints"]
    return {access_point["AccessPointId"]: access_point for access_point in found}


def tags_of(access_point):
    return {tag["Key"]: tag["Value"] for tag in access_point["Tags"]}


def efs_calls(aws, since):
    return [entry["operation"] for entry in aws.control.requests(since=since) if entry["service"] == "efs"]


def mutating(aws, since):
    return [entry["operation"] for entry in aws.control.mutating_requests(since=since)]


def changes_of(run):
    return [result["changed"] for result in run.results]


def test_creates_once_then_converges(aws, play, file_system):
    args = args_for(file_system, tags={"application": "mlflow"})
    start = aws.control.last_request_id()
    run = play([task(args), task(args)])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False] and run.recap["changed"] == 1
    first, second = run.results
    access_point = first["access_point"]
    assert access_point["access_point_id"].startswith("fsap-") and access_point["file_system_id"] == file_system
    assert access_point["access_point_arn"].endswith(":access-point/" + access_point["access_point_id"])
    assert access_point["name"] == "mlflow" and access_point["life_cycle_state"] == "available"
    assert access_point["posix_user"] == {"uid": 1000, "gid": 1000}
    assert access_point["root_directory"] == {"path": "/mlflow", "creation_info": {"owner_uid": 1000, "owner_gid": 1000, "permissions": "0750"}}
    assert access_point["tags"] == {"Name": "mlflow", "application": "mlflow"}
    assert second["access_point"]["access_point_id"] == access_point["access_point_id"] and not second["replaced"]
    # The second run only looked.
    assert efs_calls(aws, start) == ["DescribeFileSystems", "DescribeAccessPoints", "CreateAccessPoint",
                                     "DescribeFileSystems", "DescribeAccessPoints"]
    assert mutating(aws, start) == ["CreateAccessPoint"]
    (described,) = access_points(aws, file_system).values()
    assert tags_of(described) == {"Name": "mlflow", "application": "mlflow"}
    assert described["PosixUser"] == {"Uid": 1000, "Gid": 1000}
    assert described["RootDirectory"] == {"Path": "/mlflow", "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "0750"}}


def test_finds_its_access_point_among_others_by_name(aws, play, file_system):
    efs = aws.client("efs")
    other = efs.create_access_point(FileSystemId=file_system, Tags=[{"Key": "Name", "Value": "other"}])["AccessPointId"]
    unnamed = efs.create_access_point(FileSystemId=file_system)["AccessPointId"]
    run = play([task(args_for(file_system)), task(args_for(file_system, name="other", posix_user=None, root_directory=None))])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, False]
    assert run.results[1]["access_point"]["access_point_id"] == other
    assert set(access_points(aws, file_system)) == {other, unnamed, run.results[0]["access_point"]["access_point_id"]}


def test_check_mode_changes_nothing_and_diff_tells_what_would(aws, play, file_system):
    args = args_for(file_system, tags={"application": "mlflow"})
    start = aws.control.last_request_id()
    run = play([
        task(args, name="check create", check_mode=True, diff=True),
        task(args, name="create"),
        task(args, name="check unchanged", check_mode=True, diff=True),
        task(args_for(file_system, tags={}), name="check tags", check_mode=True, diff=True),
        task(args_for(file_system, posix_user={"uid": 2000, "gid": 2000}), name="check replace", check_mode=True, diff=True),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False, True, True]
    check_create, created, unchanged, check_tags, check_replace = run.results
    assert check_create["diff"]["before"] == {} and check_create["diff"]["after"]["posix_user"] == {"uid": 1000, "gid": 1000, "secondary_gids": []}
    assert "access_point_id" not in check_create["access_point"]
    assert unchanged["diff"]["before"] == unchanged["diff"]["after"]
    assert check_tags["diff"]["after"]["tags"] == {"Name": "mlflow"} and not check_tags["replaced"]
    access_point_id = created["access_point"]["access_point_id"]
    assert check_replace["replaced"] and check_replace["replaced_access_point_id"] == access_point_id
    assert check_replace["diff"]["before_header"] == f"access point {access_point_id} (deleted: EFS cannot change its posix_user)"
    assert check_replace["diff"]["after_header"] == f"new access point (replaces {access_point_id}; the data in the file system stays)"
    assert (check_replace["diff"]["before"]["posix_user"]["uid"], check_replace["diff"]["after"]["posix_user"]["uid"]) == (1000, 2000)
    # Only the real run changed something.
    assert mutating(aws, start) == ["CreateAccessPoint"]
    (described,) = access_points(aws, file_system).values()
    assert described["AccessPointId"] == access_point_id and tags_of(described) == {"Name": "mlflow", "application": "mlflow"}


def test_tags_change_in_place(aws, play, file_system):
    start = aws.control.last_request_id()
    run = play([
        task(args_for(file_system, tags={"application": "mlflow", "team": "ml"}), name="create"),
        task(args_for(file_system, tags={"team": "platform"}), name="purge", diff=True),
        task(args_for(file_system, tags={"cost-centre": "42"}, purge_tags=False), name="add"),
        task(args_for(file_system), name="tags not given"),
        task(args_for(file_system, tags={}), name="purge all"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, True, False, True]
    assert mutating(aws, start) == ["CreateAccessPoint", "UntagResource", "TagResource", "TagResource", "UntagResource"]
    ids = {result["access_point"]["access_point_id"] for result in run.results}
    assert len(ids) == 1 and not any(result["replaced"] for result in run.results)
    assert run.results[1]["diff"]["after"]["tags"] == {"Name": "mlflow", "team": "platform"}
    assert run.results[2]["access_point"]["tags"] == {"Name": "mlflow", "team": "platform", "cost-centre": "42"}
    (described,) = access_points(aws, file_system).values()
    assert tags_of(described) == {"Name": "mlflow"}  # the name is never purged


def test_a_changed_posix_user_or_root_directory_replaces_the_access_point(aws, play, file_system):
    start = aws.control.last_request_id()
    other_root = dict(ROOT, path="/mlflow-v2")
    run = play([
        task(args_for(file_system, tags={"application": "mlflow"}), name="create"),
        task(args_for(file_system, posix_user={"uid": 2000, "gid": 2000, "secondary_gids": [3000]}), name="posix user", diff=True),
        task(args_for(file_system, posix_user={"uid": 2000, "gid": 2000, "secondary_gids": [3000]}), name="again"),
        task(args_for(file_system, posix_user={"uid": 2000, "gid": 2000, "secondary_gids": [3000]}, root_directory=other_root),
             name="root directory"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, False, True]
    created, replaced, again, moved = run.results
    first_id, second_id = created["access_point"]["access_point_id"], replaced["access_point"]["access_point_id"]
    assert replaced["replaced"] and replaced["replaced_access_point_id"] == first_id and second_id != first_id
    assert replaced["access_point"]["posix_user"] == {"uid": 2000, "gid": 2000, "secondary_gids": [3000]}
    assert replaced["access_point"]["tags"] == {"Name": "mlflow", "application": "mlflow"}  # tags not given: kept
    assert replaced["diff"]["before_header"] == f"access point {first_id} (deleted: EFS cannot change its posix_user)"
    assert replaced["diff"]["after_header"] == f"new access point {second_id} (replaces {first_id}; the data in the file system stays)"
    assert again["access_point"]["access_point_id"] == second_id and not again["replaced"]
    assert moved["replaced"] and moved["replaced_access_point_id"] == second_id
    assert mutating(aws, start) == ["CreateAccessPoint", "DeleteAccessPoint", "CreateAccessPoint", "DeleteAccessPoint", "CreateAccessPoint"]
    (described,) = access_points(aws, file_system).values()
    assert described["AccessPointId"] == moved["access_point"]["access_point_id"]
    assert described["RootDirectory"]["Path"] == "/mlflow-v2" and tags_of(described) == {"Name": "mlflow", "application": "mlflow"}


def test_without_replace_on_change_a_difference_fails_and_changes_nothing(aws, play, file_system):
    run = play([task(args_for(file_system))])
    assert run.rc == 0, run.output
    access_point_id = run.result()["access_point"]["access_point_id"]
    start = aws.control.last_request_id()
    run = play([task(args_for(file_system, root_directory={"path": "/elsewhere"}, replace_on_change=False), ignore_errors=True)])
    assert run.rc == 0, run.output
    result = run.result()
    assert result["failed"]
    assert result["msg"].startswith(f"Access point {access_point_id} (mlflow) has another root_directory than asked for, and EFS cannot "
                                    "change an access point in place. Set replace_on_change=true"), result["msg"]
    assert result["differences"]["root_directory"]["desired"] == {"path": "/elsewhere", "creation_info": None}
    assert mutating(aws, start) == []
    assert list(access_points(aws, file_system)) == [access_point_id]


def test_two_access_points_with_the_name_fail_and_change_nothing(aws, play, file_system):
    efs = aws.client("efs")
    ids = sorted(efs.create_access_point(FileSystemId=file_system, Tags=[{"Key": "Name", "Value": "mlflow"}])["AccessPointId"] for dummy in range(2))
    start = aws.control.last_request_id()
    run = play([task(args_for(file_system), ignore_errors=True), task(args_for(file_system, state="absent"), ignore_errors=True)])
    assert run.rc == 0, run.output
    for result in run.results:
        assert result["failed"]
        assert f"2 access points of file system {file_system} are named 'mlflow': {ids[0]}, {ids[1]}" in result["msg"], result["msg"]
    assert mutating(aws, start) == []


def test_absent_deletes_then_changes_nothing(aws, play, file_system):
    start = aws.control.last_request_id()
    run = play([
        task(args_for(file_system), name="create"),
        task(args_for(file_system, state="absent"), name="check delete", check_mode=True, diff=True),
        task(args_for(file_system, state="absent"), name="delete"),
        task(args_for(file_system, state="absent"), name="delete again"),
        task(args_for("fs-0123456789abcdef0", state="absent"), name="no such file system"),
    ])
    assert run.rc == 0, run.output
    assert changes_of(run) == [True, True, True, False, False]
    access_point_id = run.results[0]["access_point"]["access_point_id"]
    assert run.results[1]["diff"]["before"]["access_point_id"] == access_point_id and run.results[1]["diff"]["after"] == {}
    assert run.results[2]["access_point"]["access_point_id"] == access_point_id
    assert run.results[3]["access_point"] == {} and run.results[4]["access_point"] == {}
    assert mutating(aws, start) == ["CreateAccessPoint", "DeleteAccessPoint"]
    assert access_points(aws, file_system) == {}


def test_waits_for_a_file_system_that_is_still_being_created(aws, play):
    aws.control.configure(latency_scale=1.0, latency_overrides={"efs:CreateFileSystem": 15})
    file_system_id = aws.client("efs").create_file_system(CreationToken="slow")["FileSystemId"]
    start = aws.control.last_request_id()
    run = play([task(args_for(file_system_id))])
    assert run.rc == 0, run.output
    assert run.result()["access_point"]["life_cycle_state"] == "available"
    calls = efs_calls(aws, start)
    assert calls[-1] == "CreateAccessPoint" and calls.count("DescribeFileSystems") >= 2, calls


def bad_inputs(file_system_id):
    """(module arguments, what the error message says) for inputs the module must refuse before any request."""
    return [
        (args_for("fs-1"), "file_system_id must be an EFS file system ID"),
        (args_for(file_system_id, root_directory={"path": "mlflow"}), "root_directory.path must be an absolute path"),
        (args_for(file_system_id, root_directory={"path": "/a/b/c/d/e"}), "root_directory.path may have up to four directories"),
        (args_for(file_system_id, root_directory={"path": "/mlflow", "creation_info": {"owner_uid": 1, "owner_gid": 1, "permissions": 488}}),
         "permissions must be three or four octal digits such as '0750' (quoted"),
        (args_for(file_system_id, posix_user={"uid": -1, "gid": 0}), "posix_user.uid must be between 0 and 4294967295"),
        (args_for(file_system_id, tags={"Name": "other"}), "tags: Name is the access point's name"),
        (args_for(file_system_id, posix_user={"gid": 0}), "missing required arguments: uid"),
    ]


def test_bad_input_fails_clearly_and_calls_no_api(aws, play, file_system):
    cases = bad_inputs(file_system)
    start = aws.control.last_request_id()
    run = play([task(args, ignore_errors=True) for args, dummy in cases])
    assert run.rc == 0, run.output
    assert run.recap["ignored"] == len(cases), run.output
    for result, (args, message) in zip(run.results, cases):
        assert result["failed"], result
        assert message in result["msg"], (args, result["msg"])
    assert aws.control.requests(since=start) == []


def test_a_missing_file_system_fails_clearly_and_changes_nothing(aws, play):
    start = aws.control.last_request_id()
    run = play([task(args_for("fs-0123456789abcdef0"), ignore_errors=True)])
    assert run.rc == 0, run.output
    result = run.result()
    assert result["failed"]
    assert result["msg"] == "EFS file system fs-0123456789abcdef0 does not exist in us-east-1: create it first (community.aws.efs)."
    assert mutating(aws, start) == []
