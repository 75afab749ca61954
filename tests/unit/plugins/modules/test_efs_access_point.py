"""mlops.mlflow.efs_access_point: the comparison with the existing access point, the input checks, and main()
driven with EFS stubbed by botocore's Stubber (which also checks every request against the EFS API model)."""

import pytest
from botocore.stub import ANY

from ansible_collections.mlops.mlflow.plugins.modules import efs_access_point as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

ACCOUNT = "123456789012"
FS = "fs-0123456789abcdef0"
AP1 = "fsap-11111111111111111"
AP2 = "fsap-22222222222222222"
MLFLOW_ROOT = {"path": "/mlflow", "creation_info": {"owner_uid": 1000, "owner_gid": 1000, "permissions": "0750"}}


def params(**changes):
    """The module's parameters after validation, defaults applied."""
    values = dict(state="present", file_system_id=FS, name="mlflow", posix_user={"uid": 1000, "gid": 1000, "secondary_gids": None},
                  root_directory=dict(MLFLOW_ROOT), replace_on_change=True, tags=None, purge_tags=True, wait=True, wait_timeout=300)
    values.update(changes)
    return values


def access_point(ap_id=AP1, name="mlflow", posix_user=None, root_directory=None, tags=None, state="available"):
    """An access point as DescribeAccessPoints answers."""
    described = {
        "ClientToken": "token", "Name": name, "AccessPointId": ap_id, "FileSystemId": FS, "OwnerId": ACCOUNT, "LifeCycleState": state,
        "AccessPointArn": "arn:aws:elasticfilesystem:us-east-1:{0}:access-point/{1}".format(ACCOUNT, ap_id),
        "Tags": [{"Key": "Name", "Value": name}] + [{"Key": key, "Value": value} for key, value in (tags or {}).items()],
        "PosixUser": posix_user if posix_user is not None else {"Uid": 1000, "Gid": 1000},
        "RootDirectory": root_directory if root_directory is not None else {
            "Path": "/mlflow", "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "0750"}},
    }
    if posix_user is False:
        del described["PosixUser"]
    return described


# --- input checks -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, problem", [
    ("/", None), ("/mlflow", None), ("/a/b/c/d", None), ("/data-1/ml_flow v2", None),
    ("mlflow", "absolute"), ("/mlflow/", "trailing"), ("//mlflow", "empty parts"), ("/a/b/c/d/e", "up to four"),
    ("/.hidden", "begins with '.'"), ("/a/../b", "begins with '.'"), ("/ml$flow", "may not contain"), ("/" + "x" * 100, "up to 100"),
])
def test_root_directory_paths(path, problem):
    found = module.path_error(path)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize("changes, message", [
    ({"file_system_id": "fs-1"}, "file_system_id must be an EFS file system ID"),
    ({"file_system_id": "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-01234567"}, "file_system_id must be an EFS file system ID"),
    ({"name": ""}, "name must be 1 to 256"),
    ({"name": "ml;flow"}, "name must be 1 to 256"),
    ({"posix_user": {"uid": -1, "gid": 0, "secondary_gids": None}}, "posix_user.uid must be between 0 and 4294967295"),
    ({"posix_user": {"uid": 0, "gid": 4294967296, "secondary_gids": None}}, "posix_user.gid must be between"),
    ({"posix_user": {"uid": 0, "gid": 0, "secondary_gids": list(range(17))}}, "up to 16 groups"),
    ({"root_directory": {"path": "mlflow", "creation_info": None}}, "root_directory.path must be an absolute path"),
    ({"root_directory": dict(MLFLOW_ROOT, creation_info={"owner_uid": 1, "owner_gid": 1, "permissions": "488"})},
     "permissions must be three or four octal digits such as '0750' (quoted"),
    ({"root_directory": dict(MLFLOW_ROOT, creation_info={"owner_uid": 1, "owner_gid": 1, "permissions": "rwx"})}, "octal digits"),
    ({"tags": {"Name": "other"}}, "tags: Name is the access point's name"),
    ({"tags": {"aws:x": "1"}}, "reserved for AWS"),
    ({"tags": {"a": "semi;colon"}}, "letters, digits, spaces"),
    ({"tags": dict(("k{0}".format(index), "v") for index in range(50))}, "up to 50 tags, Name included"),
    ({"wait_timeout": 0}, "wait_timeout must be above 0"),
])
def test_bad_input_is_refused(changes, message):
    with pytest.raises(module.InvalidInput) as caught:
        module.validate(params(**changes))
    assert message in str(caught.value)


def test_good_input_passes():
    module.validate(params())
    module.validate(params(posix_user=None, root_directory=None, tags={"Name": "mlflow", "team": "ml"}))
    module.validate(params(state="absent", posix_user={"uid": -1, "gid": 0, "secondary_gids": None}))  # absent checks IDs and name only


# --- comparison -----------------------------------------------------------------------------------------------------------


def desired(**changes):
    wanted = params(**changes)
    return module.desired_posix_user(wanted), module.desired_root_directory(wanted)


def test_the_same_access_point_has_no_difference():
    assert module.differences(access_point(), *desired()) == []


def test_efs_forms_of_the_same_settings_are_no_difference():
    same = access_point(posix_user={"Uid": 1000, "Gid": 1000, "SecondaryGids": [5, 4]},
                        root_directory={"Path": "/mlflow", "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "750"}})
    assert module.differences(same, *desired(posix_user={"uid": 1000, "gid": 1000, "secondary_gids": [4, 5]})) == []
    # No root directory asked for: the file system's root, as EFS shows it.
    assert module.differences(access_point(posix_user=False, root_directory={"Path": "/"}), *desired(posix_user=None, root_directory=None)) == []
    assert module.desired_root_directory(params(root_directory=None)) == {"Path": "/"}


@pytest.mark.parametrize("changes, expected", [
    ({"posix_user": {"uid": 1001, "gid": 1000, "secondary_gids": None}}, ["posix_user"]),
    ({"posix_user": {"uid": 1000, "gid": 1000, "secondary_gids": [7]}}, ["posix_user"]),
    ({"posix_user": None}, ["posix_user"]),
    ({"root_directory": dict(MLFLOW_ROOT, path="/other")}, ["root_directory"]),
    ({"root_directory": dict(MLFLOW_ROOT, creation_info=dict(MLFLOW_ROOT["creation_info"], permissions="0755"))}, ["root_directory"]),
    ({"root_directory": dict(MLFLOW_ROOT, creation_info=None)}, ["root_directory"]),
    ({"posix_user": None, "root_directory": None}, ["posix_user", "root_directory"]),
])
def test_differences(changes, expected):
    assert module.differences(access_point(), *desired(**changes)) == expected


@pytest.mark.parametrize("tags, purge, expected_set, expected_unset", [
    (None, True, {}, []),  # tags not given: left alone
    ({"a": "1"}, True, {}, ["b"]),  # Name and aws: tags are never purged
    ({}, True, {}, ["a", "b"]),
    ({"a": "2"}, False, {"a": "2"}, []),
    ({"Name": "mlflow", "c": 3}, True, {"c": "3"}, ["a", "b"]),
])
def test_tag_changes_keep_the_name(tags, purge, expected_set, expected_unset):
    current = {"Name": "mlflow", "a": "1", "b": "2", "aws:cloudformation:stack-id": "x"}
    to_set, to_unset = module.tag_changes(current, "mlflow", tags, purge)
    assert (to_set, sorted(to_unset)) == (expected_set, expected_unset)
    assert module.desired_tags({}, "mlflow", tags, purge)["Name"] == "mlflow"


def test_result_and_diff_views():
    described = access_point(tags={"team": "ml"})
    result = module.snake_access_point(described)
    assert result["access_point_id"] == AP1 and result["name"] == "mlflow" and "client_token" not in result
    assert result["posix_user"] == {"uid": 1000, "gid": 1000}
    assert result["root_directory"] == {"path": "/mlflow", "creation_info": {"owner_uid": 1000, "owner_gid": 1000, "permissions": "0750"}}
    assert result["tags"] == {"Name": "mlflow", "team": "ml"} and result["life_cycle_state"] == "available"
    assert module.comparable(described)["posix_user"] == {"uid": 1000, "gid": 1000, "secondary_gids": []}
    assert module.snake_access_point(None) == {} and module.comparable(None) == {}


# --- main() with a stubbed EFS --------------------------------------------------------------------------------------------------


@pytest.fixture
def efs(monkeypatch):
    stubber = harness.stub_client(monkeypatch, "efs")
    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


ARGS = {"file_system_id": FS, "name": "mlflow", "posix_user": {"uid": 1000, "gid": 1000}, "root_directory": MLFLOW_ROOT}


run = harness.runner(module, harness.AWS_ARGS)


def expect_file_system(efs, state="available"):
    if state is None:
        efs.add_client_error("describe_file_systems", "FileSystemNotFound", "File system '{0}' does not exist.".format(FS), 404,
                             expected_params={"FileSystemId": FS})
        return
    efs.add_response("describe_file_systems", {"FileSystems": [{
        "OwnerId": ACCOUNT, "CreationToken": "t", "FileSystemId": FS, "CreationTime": "2026-01-01T00:00:00Z", "LifeCycleState": state,
        "NumberOfMountTargets": 0, "SizeInBytes": {"Value": 0}, "PerformanceMode": "generalPurpose", "Tags": []}]}, {"FileSystemId": FS})


def expect_list(efs, *access_points):
    efs.add_response("describe_access_points", {"AccessPoints": list(access_points)}, {"FileSystemId": FS})


def expect_one(efs, described, ap_id=AP1):
    if described is None:
        efs.add_client_error("describe_access_points", "AccessPointNotFound", "Access point does not exist.", 404,
                             expected_params={"AccessPointId": ap_id})
    else:
        efs.add_response("describe_access_points", {"AccessPoints": [described]}, {"AccessPointId": ap_id})


def create_response(ap_id=AP1, state="creating", **kwargs):
    return access_point(ap_id=ap_id, state=state, **kwargs)


CREATE_PARAMS = {
    "ClientToken": ANY, "FileSystemId": FS, "PosixUser": {"Uid": 1000, "Gid": 1000}, "Tags": [{"Key": "Name", "Value": "mlflow"}],
    "RootDirectory": {"Path": "/mlflow", "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "0750"}},
}


def test_creates_and_waits_until_available(efs):
    expect_file_system(efs)
    expect_list(efs, access_point(ap_id=AP2, name="other"), access_point(name="mlflow", state="deleting"))
    efs.add_response("create_access_point", create_response(), CREATE_PARAMS)
    expect_one(efs, access_point(state="creating"))
    expect_one(efs, access_point())
    outcome = run(ARGS, diff=True)
    assert not outcome.failed and outcome.result["changed"] and not outcome.result["replaced"]
    assert outcome.result["access_point"]["access_point_id"] == AP1
    assert outcome.result["access_point"]["life_cycle_state"] == "available"
    assert outcome.result["diff"]["before"] == {} and outcome.result["diff"]["after"]["name"] == "mlflow"


def test_waits_for_a_file_system_still_being_created(efs):
    expect_file_system(efs, state="creating")
    expect_list(efs)
    expect_file_system(efs, state="creating")
    expect_file_system(efs, state="available")
    efs.add_response("create_access_point", create_response(state="available"), CREATE_PARAMS)
    assert run(ARGS).result["changed"]


def test_a_missing_file_system_fails_clearly(efs):
    expect_file_system(efs, state=None)
    outcome = run(ARGS)
    assert outcome.failed and "EFS file system {0} does not exist in us-east-1".format(FS) in outcome.result["msg"]


def test_two_access_points_with_the_name_fail_and_change_nothing(efs):
    expect_file_system(efs)
    expect_list(efs, access_point(ap_id=AP2), access_point())
    outcome = run(ARGS)
    assert outcome.failed
    assert "2 access points of file system {0} are named 'mlflow': {1}, {2}".format(FS, AP1, AP2) in outcome.result["msg"]


def test_an_unchanged_access_point_is_only_described(efs):
    expect_file_system(efs)
    expect_list(efs, access_point(tags={"team": "ml"}))
    outcome = run(dict(ARGS, tags={"team": "ml"}), diff=True)
    assert not outcome.result["changed"] and outcome.result["diff"]["before"] == outcome.result["diff"]["after"]


def test_tags_are_changed_in_place(efs):
    expect_file_system(efs)
    expect_list(efs, access_point(tags={"old": "x", "keep": "1"}))
    efs.add_response("untag_resource", {}, {"ResourceId": AP1, "TagKeys": ["old"]})
    efs.add_response("tag_resource", {}, {"ResourceId": AP1, "Tags": [{"Key": "new", "Value": "y"}]})
    expect_one(efs, access_point(tags={"keep": "1", "new": "y"}))
    outcome = run(dict(ARGS, tags={"keep": "1", "new": "y"}))
    assert outcome.result["changed"] and not outcome.result["replaced"]
    assert outcome.result["access_point"]["tags"] == {"Name": "mlflow", "keep": "1", "new": "y"}


def test_a_changed_posix_user_replaces_the_access_point(efs):
    expect_file_system(efs)
    expect_list(efs, access_point(tags={"team": "ml"}))
    efs.add_response("delete_access_point", {}, {"AccessPointId": AP1})
    expect_one(efs, access_point(state="deleting"))
    expect_one(efs, None)
    new_tags = [{"Key": "Name", "Value": "mlflow"}, {"Key": "team", "Value": "ml"}]
    efs.add_response("create_access_point", create_response(ap_id=AP2, state="available", posix_user={"Uid": 2000, "Gid": 2000}, tags={"team": "ml"}),
                     dict(CREATE_PARAMS, PosixUser={"Uid": 2000, "Gid": 2000}, Tags=new_tags))
    outcome = run(dict(ARGS, posix_user={"uid": 2000, "gid": 2000}), diff=True)
    result = outcome.result
    assert result["changed"] and result["replaced"] and result["replaced_access_point_id"] == AP1
    assert result["access_point"]["access_point_id"] == AP2 and result["access_point"]["tags"] == {"Name": "mlflow", "team": "ml"}
    assert result["diff"]["before"]["posix_user"]["uid"] == 1000 and result["diff"]["after"]["posix_user"]["uid"] == 2000
    assert result["diff"]["before_header"] == "access point {0} (deleted: EFS cannot change its posix_user)".format(AP1)
    assert result["diff"]["after_header"] == "new access point {0} (replaces {1}; the data in the file system stays)".format(AP2, AP1)


def test_replacement_in_check_mode_says_so_and_calls_nothing_that_changes(efs):
    expect_file_system(efs)
    expect_list(efs, access_point())
    outcome = run(dict(ARGS, root_directory=dict(MLFLOW_ROOT, path="/mlflow2")), check_mode=True, diff=True)
    result = outcome.result
    assert result["changed"] and result["replaced"] and result["replaced_access_point_id"] == AP1
    assert "access_point_id" not in result["access_point"] and result["access_point"]["root_directory"]["path"] == "/mlflow2"
    assert result["diff"]["after_header"] == "new access point (replaces {0}; the data in the file system stays)".format(AP1)


def test_without_replace_on_change_a_difference_fails_and_changes_nothing(efs):
    expect_file_system(efs)
    expect_list(efs, access_point())
    outcome = run(dict(ARGS, posix_user={"uid": 2000, "gid": 2000}, replace_on_change=False))
    assert outcome.failed
    assert "Access point {0} (mlflow) has another posix_user than asked for".format(AP1) in outcome.result["msg"]
    assert "replace_on_change=true" in outcome.result["msg"]
    assert outcome.result["differences"]["posix_user"]["current"]["uid"] == 1000


def test_a_wait_that_times_out_fails_clearly(efs, monkeypatch):
    ticks = iter(range(0, 1000, 100))
    monkeypatch.setattr(module.time, "monotonic", lambda: next(ticks))
    expect_file_system(efs)
    expect_list(efs)
    efs.add_response("create_access_point", create_response(), CREATE_PARAMS)
    expect_one(efs, access_point(state="creating"))
    expect_one(efs, access_point(state="creating"))
    outcome = run(dict(ARGS, wait_timeout=150))
    assert outcome.failed and outcome.result["msg"] == "Access point {0} was still creating after 150 seconds (wait_timeout).".format(AP1)


def test_absent_deletes_and_waits(efs):
    expect_file_system(efs)
    expect_list(efs, access_point())
    efs.add_response("delete_access_point", {}, {"AccessPointId": AP1})
    expect_one(efs, None)
    outcome = run({"file_system_id": FS, "name": "mlflow", "state": "absent"}, diff=True)
    assert outcome.result["changed"] and outcome.result["access_point"]["access_point_id"] == AP1
    assert outcome.result["diff"]["after"] == {}


@pytest.mark.parametrize("file_system", ["available", None], ids=["no access point", "no file system"])
def test_absent_when_there_is_nothing(efs, file_system):
    expect_file_system(efs, state=file_system)
    if file_system:
        expect_list(efs, access_point(name="other"))
    outcome = run({"file_system_id": FS, "name": "mlflow", "state": "absent"})
    assert not outcome.result["changed"] and outcome.result["access_point"] == {}


def test_bad_input_fails_before_any_call(efs):
    outcome = run(dict(ARGS, root_directory={"path": "/a/b/c/d/e"}))
    assert outcome.failed and "up to four directories" in outcome.result["msg"]


def test_a_failed_replacement_says_the_old_access_point_is_gone(efs):
    expect_file_system(efs)
    expect_list(efs, access_point())
    efs.add_response("delete_access_point", {}, {"AccessPointId": AP1})
    expect_one(efs, None)
    efs.add_client_error("create_access_point", "AccessPointLimitExceeded", "You have reached the maximum number of access points.", 403)
    outcome = run(dict(ARGS, posix_user={"uid": 2000, "gid": 2000}))
    assert outcome.failed
    assert outcome.result["msg"].startswith("Could not replace access point mlflow of EFS file system {0} ({1} is deleted already; "
                                            "the next run creates its replacement)".format(FS, AP1))
