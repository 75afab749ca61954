"""mlops.mlflow.rds_cluster_instances: the input checks, the plan against the described instances, and main()
driven with RDS stubbed by botocore's Stubber (which also checks every request against the RDS API model), with a
fake clock for the waits."""

import datetime

import pytest

from ansible_collections.mlops.mlflow.plugins.modules import rds_cluster_instances as module
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules import harness

ACCOUNT = "123456789012"
FILTER = {"Filters": [{"Name": "db-cluster-id", "Values": ["mlflow"]}]}
run = harness.runner(module, defaults=dict(harness.AWS_ARGS, db_cluster_identifier="mlflow"))


def params(**changes):
    """The module's parameters after validation, defaults applied."""
    values = dict(db_cluster_identifier="mlflow", instances=["mlflow-1", "mlflow-2"], db_instance_class="db.serverless",
                  publicly_accessible=False, auto_minor_version_upgrade=True, promotion_tier=None, tags={}, purge_tags=True,
                  purge_instances=False, state="present", wait=True, wait_timeout=1800, wait_delay=2)
    values.update(changes)
    return values


def cluster(status="available"):
    return {"DBClusterIdentifier": "mlflow", "Status": status, "Engine": "aurora-postgresql", "Port": 5432,
            "Endpoint": "mlflow.cluster-x.us-east-1.rds.amazonaws.com", "ReaderEndpoint": "mlflow.cluster-ro-x.us-east-1.rds.amazonaws.com",
            "ClusterCreateTime": datetime.datetime(2026, 1, 1)}


def instance(identifier="mlflow-1", status="available", tags=None, **changes):
    described = {"DBInstanceIdentifier": identifier, "DBInstanceArn": "arn:aws:rds:us-east-1:{0}:db:{1}".format(ACCOUNT, identifier),
                 "DBInstanceClass": "db.serverless", "DBInstanceStatus": status, "AvailabilityZone": "us-east-1a",
                 "PubliclyAccessible": False, "AutoMinorVersionUpgrade": True, "PromotionTier": 1, "DBClusterIdentifier": "mlflow",
                 "TagList": [{"Key": key, "Value": value} for key, value in (tags or {}).items()]}
    described.update(changes)
    return described


# --- input checks -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"instances": ["mlflow--1"]}, "'mlflow--1' must not hold two hyphens in a row"),
    ({"instances": ["mlflow-"]}, "'mlflow-' must not end with a hyphen"),
    ({"instances": ["1-mlflow"]}, "'1-mlflow' must begin with a letter"),
    ({"instances": ["ml_flow"]}, "may hold only letters, digits and hyphens"),
    ({"instances": ["a" * 64]}, "must have 1 to 63 characters"),
    ({"instances": [""]}, "must have 1 to 63 characters"),
    ({"instances": ["mlflow-1", "MLflow-1"]}, "instances lists mlflow-1 more than once"),
    ({"db_cluster_identifier": "ml flow"}, "db_cluster_identifier 'ml flow' may hold only"),
    ({"promotion_tier": 16}, "promotion_tier must be between 0 and 15, got 16"),
    ({"promotion_tier": -1}, "promotion_tier must be between 0 and 15"),
    ({"db_instance_class": "serverless"}, "db_instance_class must name a DB instance class"),
    ({"tags": {"aws:owner": "x"}}, "keys beginning with 'aws:' are reserved"),
    ({"wait_delay": 0}, "wait_delay must be 1 second or more"),
    ({"wait_timeout": -1}, "wait_timeout must be 0 or more"),
])
def test_bad_input_is_refused(changes, message):
    with pytest.raises(module.InvalidInput) as caught:
        module.validate(params(**changes))
    assert message in str(caught.value)


def test_good_input_passes():
    module.validate(params())
    module.validate(params(instances=["a", "A1-b2-C3", "x" * 63], promotion_tier=0, tags={"a": "1"}))
    module.validate(params(instances=[]))
    module.validate(params(state="absent", db_instance_class="", promotion_tier=99))  # absent checks identifiers only


# --- plan ----------------------------------------------------------------------------------------------------------------


def test_missing_instances_are_created_in_order():
    assert module.plan([], params(instances=["mlflow-2", "mlflow-1"])) == [("create", "mlflow-2", None), ("create", "mlflow-1", None)]


def test_the_same_instances_need_nothing():
    assert module.plan([instance("mlflow-1"), instance("mlflow-2")], params()) == []
    tagged = [instance("mlflow-1", tags={"a": "1"}), instance("mlflow-2", tags={"a": "1"})]
    assert module.plan(tagged, params(tags={"a": "1"})) == []
    assert module.plan(tagged, params(tags={}, purge_tags=False)) == []
    # Case does not matter (RDS keeps identifiers in lower case); promotion tier not given is not compared.
    assert module.plan([instance("mlflow-1", PromotionTier=7), instance("mlflow-2")], params(instances=["MLflow-1", "mlflow-2"])) == []


def test_differing_settings_are_modified_and_tags_are_changed_alone():
    members = [instance("mlflow-1", tags={"a": "1", "b": "2"}),
               instance("mlflow-2", DBInstanceClass="db.r6g.large", PubliclyAccessible=True, PromotionTier=1)]
    actions = module.plan(members, params(tags={"a": "2"}, promotion_tier=1))
    assert actions == [
        ("tags", "mlflow-1", ({"a": "2"}, ["b"])),
        ("modify", "mlflow-2", {"DBInstanceClass": "db.serverless", "PubliclyAccessible": False}),
        ("tags", "mlflow-2", ({"a": "2"}, [])),
    ]
    assert module.plan(members[:1], params(instances=["mlflow-1"], auto_minor_version_upgrade=False, promotion_tier=0,
                                           tags={"a": "1", "b": "2"})) == [
        ("modify", "mlflow-1", {"AutoMinorVersionUpgrade": False, "PromotionTier": 0})]


def test_purge_instances_deletes_the_unlisted_after_creating():
    members = [instance("mlflow-1"), instance("old-1")]
    assert module.plan(members, params()) == [("create", "mlflow-2", None)]
    assert module.plan(members, params(purge_instances=True)) == [("create", "mlflow-2", None), ("delete", "old-1", None)]


def test_absent_deletes_the_listed_that_exist():
    members = [instance("mlflow-1"), instance("mlflow-2", status="deleting"), instance("other")]
    assert module.plan(members, params(state="absent", instances=["mlflow-1", "mlflow-2", "mlflow-3"])) == [("delete", "mlflow-1", None)]


def test_an_instance_being_deleted_counts_as_absent():
    assert module.plan([instance("mlflow-1", status="deleting"), instance("mlflow-2")], params()) == [("create", "mlflow-1", None)]


def test_prediction_and_diff():
    members = [instance("mlflow-1", tags={"a": "1"}), instance("old")]
    wanted = params(tags={"b": "2"}, purge_instances=True, promotion_tier=2)
    actions = module.plan(members, wanted)
    after = module.predicted_members(members, actions, wanted)
    shown = {"mlflow-1", "mlflow-2", "old"}
    before = module.comparable(members, shown)["instances"]
    predicted = module.comparable(after, shown)["instances"]
    assert sorted(before) == ["mlflow-1", "old"] and sorted(predicted) == ["mlflow-1", "mlflow-2"]
    assert before["mlflow-1"] == {"db_instance_class": "db.serverless", "publicly_accessible": False,
                                  "auto_minor_version_upgrade": True, "promotion_tier": 1, "tags": {"a": "1"}}
    assert predicted["mlflow-1"]["tags"] == {"b": "2"} and predicted["mlflow-1"]["promotion_tier"] == 2
    assert predicted["mlflow-2"] == {"db_instance_class": "db.serverless", "publicly_accessible": False,
                                     "auto_minor_version_upgrade": True, "promotion_tier": 2, "tags": {"b": "2"}}
    listed = module.listed_instances(after, wanted)
    assert [item["db_instance_identifier"] for item in listed] == ["mlflow-1", "mlflow-2"]
    assert listed[1]["db_instance_arn"] is None and listed[1]["db_instance_status"] == "creating"


def test_pending_instances():
    wanted = params()
    assert module.pending([instance("mlflow-1"), instance("mlflow-2")], wanted, set()) == ([], None)
    assert module.pending([instance("mlflow-1", status="creating")], wanted, set()) == (["mlflow-1", "mlflow-2"], None)
    deferred = [instance("mlflow-1", PendingModifiedValues={"DBInstanceClass": "db.r6g.large"}), instance("mlflow-2")]
    # Held to its pending modification only when this run modified it: someone else's may wait for the maintenance window.
    assert module.pending(deferred, wanted, set(), frozenset(["mlflow-1"])) == (["mlflow-1"], None)
    assert module.pending(deferred, wanted, set()) == ([], None)
    waiting, problem = module.pending([instance("mlflow-1", status="incompatible-network"), instance("mlflow-2")], wanted, set())
    assert "mlflow-1 is incompatible-network" in problem
    assert module.pending([instance("mlflow-1", status="deleting"), instance("mlflow-2")], wanted, {"mlflow-1"}) == (["mlflow-1"], None)
    assert module.pending([instance("mlflow-2")], wanted, {"mlflow-1"}) == ([], None)


# --- main() with RDS stubbed ------------------------------------------------------------------------------------------------


@pytest.fixture
def rds(monkeypatch):
    stubber = harness.stub_client(monkeypatch, "rds")
    stubber.clock = harness.FakeClock()
    monkeypatch.setattr(module, "time", stubber.clock)
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def describes_cluster(rds, status="available"):
    rds.add_response("describe_db_clusters", {"DBClusters": [cluster(status)]}, {"DBClusterIdentifier": "mlflow"})


def describes_members(rds, *members):
    rds.add_response("describe_db_instances", {"DBInstances": list(members)}, FILTER)


def test_waits_for_the_cluster_then_creates_and_waits_for_the_instances(rds):
    describes_cluster(rds, "creating")
    describes_cluster(rds, "creating")
    describes_cluster(rds, "available")
    describes_members(rds)
    for identifier in ("mlflow-1", "mlflow-2"):
        rds.add_response("create_db_instance", {"DBInstance": instance(identifier, status="creating")}, {
            "DBInstanceIdentifier": identifier, "DBClusterIdentifier": "mlflow", "Engine": "aurora-postgresql",
            "DBInstanceClass": "db.serverless", "PubliclyAccessible": False, "AutoMinorVersionUpgrade": True,
            "PromotionTier": 0, "Tags": [{"Key": "application", "Value": "mlflow"}]})
    describes_members(rds, instance("mlflow-1", status="creating"), instance("mlflow-2", status="creating"))
    describes_members(rds, instance("mlflow-1"), instance("mlflow-2", status="creating"))
    describes_members(rds, instance("mlflow-1", tags={"application": "mlflow"}), instance("mlflow-2", tags={"application": "mlflow"}))
    describes_cluster(rds)
    outcome = run(dict(instances=["mlflow-1", "mlflow-2"], promotion_tier=0, tags={"application": "mlflow"}), diff=True)
    assert not outcome.failed, outcome.result["msg"]
    result = outcome.result
    assert result["changed"] and result["cluster"] == {
        "db_cluster_identifier": "mlflow", "status": "available", "engine": "aurora-postgresql", "port": 5432,
        "endpoint": "mlflow.cluster-x.us-east-1.rds.amazonaws.com", "reader_endpoint": "mlflow.cluster-ro-x.us-east-1.rds.amazonaws.com"}
    assert [item["db_instance_status"] for item in result["instances"]] == ["available", "available"]
    assert result["instances"][0] == {
        "db_instance_identifier": "mlflow-1", "db_instance_arn": "arn:aws:rds:us-east-1:123456789012:db:mlflow-1",
        "db_instance_class": "db.serverless", "db_instance_status": "available", "availability_zone": "us-east-1a",
        "publicly_accessible": False, "auto_minor_version_upgrade": True, "promotion_tier": 1, "tags": {"application": "mlflow"}}
    assert rds.clock.sleeps == [2, 2, 2, 2]
    assert result["diff"]["before"] == {"instances": {}} and sorted(result["diff"]["after"]["instances"]) == ["mlflow-1", "mlflow-2"]
    assert rds.created == ["rds"]


def test_without_wait_a_creating_cluster_makes_rds_refuse_and_the_module_says_why(rds):
    describes_cluster(rds, "creating")
    describes_members(rds)
    rds.add_client_error("create_db_instance", service_error_code="InvalidDBClusterStateFault",
                         service_message="DB cluster mlflow is not in an available state", http_status_code=400)
    outcome = run(dict(instances=["mlflow-1"], wait=False))
    assert outcome.failed
    assert "DB cluster mlflow is creating, and RDS refuses to add or change its instances before it is available" in outcome.result["msg"]
    assert "wait=true" in outcome.result["msg"] and rds.clock.sleeps == []


def test_a_cluster_in_a_dead_end_fails_at_once(rds):
    describes_cluster(rds, "inaccessible-encryption-credentials")
    outcome = run(dict(instances=["mlflow-1"]))
    assert outcome.failed and "DB cluster mlflow is inaccessible-encryption-credentials" in outcome.result["msg"]
    assert outcome.result["cluster"]["status"] == "inaccessible-encryption-credentials"


def test_the_wait_times_out(rds):
    for dummy in range(3):
        describes_cluster(rds, "creating")
    outcome = run(dict(instances=["mlflow-1"], wait_timeout=5, wait_delay=2))
    assert outcome.failed
    assert "Timed out after wait_timeout=5 seconds waiting for DB cluster mlflow to be available (it is creating)" in outcome.result["msg"]
    assert rds.clock.sleeps == [2, 2]


def test_a_missing_cluster_fails_clearly(rds):
    rds.add_client_error("describe_db_clusters", service_error_code="DBClusterNotFoundFault", service_message="DBCluster mlflow not found.",
                         http_status_code=404)
    outcome = run(dict(instances=["mlflow-1"]))
    assert outcome.failed and "DB cluster mlflow does not exist" in outcome.result["msg"]


def test_an_instance_being_deleted_is_waited_for_then_created_again(rds):
    describes_cluster(rds)
    describes_members(rds, instance("mlflow-1", status="deleting"))
    describes_members(rds, instance("mlflow-1", status="deleting"))
    describes_members(rds)
    rds.add_response("create_db_instance", {"DBInstance": instance("mlflow-1", status="creating")}, {
        "DBInstanceIdentifier": "mlflow-1", "DBClusterIdentifier": "mlflow", "Engine": "aurora-postgresql",
        "DBInstanceClass": "db.serverless", "PubliclyAccessible": False, "AutoMinorVersionUpgrade": True})
    describes_members(rds, instance("mlflow-1"))
    describes_cluster(rds)
    outcome = run(dict(instances=["mlflow-1"]))
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] and outcome.result["instances"][0]["db_instance_status"] == "available"
    assert rds.clock.sleeps == [2, 2]


def test_check_mode_neither_changes_nor_waits(rds):
    describes_cluster(rds, "creating")
    describes_members(rds, instance("mlflow-1", tags={"old": "1"}))
    outcome = run(dict(instances=["mlflow-1", "mlflow-2"]), check_mode=True, diff=True)
    assert not outcome.failed, outcome.result["msg"]
    result = outcome.result
    assert result["changed"] and rds.clock.sleeps == []
    assert [item["tags"] for item in result["instances"]] == [{}, {}]
    assert result["diff"]["before"]["instances"]["mlflow-1"]["tags"] == {"old": "1"}


def test_ready_instances_cost_two_calls(rds):
    describes_cluster(rds)
    describes_members(rds, instance("mlflow-1"), instance("mlflow-2"))
    outcome = run(dict(instances=["mlflow-2", "mlflow-1"]))
    assert not outcome.failed and not outcome.result["changed"]
    assert [item["db_instance_identifier"] for item in outcome.result["instances"]] == ["mlflow-2", "mlflow-1"]


def test_absent_deletes_and_waits_until_gone(rds):
    describes_cluster(rds)
    describes_members(rds, instance("mlflow-1"), instance("mlflow-2"))
    rds.add_response("delete_db_instance", {"DBInstance": instance("mlflow-1", status="deleting")}, {"DBInstanceIdentifier": "mlflow-1"})
    describes_members(rds, instance("mlflow-1", status="deleting"), instance("mlflow-2"))
    describes_members(rds, instance("mlflow-2"))
    describes_cluster(rds)
    outcome = run(dict(instances=["mlflow-1"], state="absent"))
    assert not outcome.failed, outcome.result["msg"]
    assert outcome.result["changed"] and outcome.result["instances"] == [] and rds.clock.sleeps == [2]
