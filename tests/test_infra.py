"""infra/template.yaml: cfn-lint passes, the Glue table's columns are the lake's (generated
from the one column list, and the same as a written Parquet file's), and the security and
delivery properties the deployment promises are in the template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import REPO, ingest, parquet_files

TEMPLATE = REPO / "infra" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())


def resources(template, kind):
    return {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_passes():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    proc = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_the_glue_columns_and_the_ddl_are_generated_from_the_lake_schema(bin_path):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "infra_generated.py"),
                           "--ctrlake", str(bin_path), "--check"], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()


def test_the_glue_table_reads_the_files_the_writer_writes(template, fixture_lake):
    lake, _ = fixture_lake
    table = resources(template, "AWS::Glue::Table")["CtrTable"]["TableInput"]
    columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    written = pq.read_schema(parquet_files(lake)[0]).names
    assert columns == written, "the Glue columns, in order, are a written file's"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt"]
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true", "partition projection: no crawler, no MSCK"
    assert parameters["projection.dt.format"] == "yyyy-MM-dd"
    assert "dt=${!dt}" in parameters["storage.location.template"]["Fn::Sub"]


def test_the_agent_events_table_reads_the_files_the_writer_writes(template, tmp_path):
    lake = tmp_path / "lake"
    ingest([REPO / "fixtures" / "agent-events" / "aws-examples.ndjson"], lake)
    table = resources(template, "AWS::Glue::Table")["AgentEventsTable"]["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    written = pq.read_schema(next((lake / "agent_events").rglob("*.parquet")))
    assert [name for name, _ in columns] == written.names
    contacts = dict(columns)["contacts"]
    assert contacts.startswith("array<struct<contact_id:string,") and "state:string" in contacts
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert "agent_events/dt=${!dt}" in parameters["storage.location.template"]["Fn::Sub"]


def test_the_agent_event_stream_is_ingested_like_the_ctr_stream(template):
    storage = {r["ResourceType"]: r for r in
               resources(template, "AWS::Connect::InstanceStorageConfig").values()}
    assert storage["AGENT_EVENTS"]["KinesisStreamConfig"]["StreamArn"] == {
        "Fn::GetAtt": ["AgentEventStream", "Arn"]}
    ctr = resources(template, "AWS::Serverless::Function")["IngestFunction"]["Events"]["Ctr"][
        "Properties"]
    agent = resources(template, "AWS::Lambda::EventSourceMapping")["AgentEventMapping"]
    assert agent["FunctionName"] == {"Ref": "IngestFunction"}
    for setting in ("StartingPosition", "BatchSize", "MaximumBatchingWindowInSeconds",
                    "FunctionResponseTypes", "BisectBatchOnFunctionError",
                    "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "Enabled"):
        assert agent[setting] == ctr[setting], setting
    assert agent["DestinationConfig"]["OnFailure"]["Destination"] == \
        ctr["DestinationConfig"]["OnFailure"]["Destination"]
    # Both stream readers may read it.
    ingest_read = next(s for s in resources(template, "AWS::IAM::Role")["IngestRole"]["Policies"][0][
        "PolicyDocument"]["Statement"] if s["Sid"] == "ReadTheStream")
    assert any("AgentEventStream" in json.dumps(r) for r in ingest_read["Resource"])


def test_data_is_encrypted_private_and_tls_only(template):
    for stream in resources(template, "AWS::Kinesis::Stream").values():
        assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
        # Connect publishes only to a stream encrypted with the customer managed key of its
        # recordings or scheduled reports (Connect admin guide, "Enable data streaming"):
        # with aws/kinesis the stream would stay empty.
        assert stream["StreamEncryption"]["KeyId"] == {"Ref": "StreamKmsKeyArn"}
    (bucket,) = resources(template, "AWS::S3::Bucket").values()
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    block = bucket["PublicAccessBlockConfiguration"]
    assert all(block[k] is True for k in
               ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-dead-letters"]["Prefix"] == "lake/_dead_letter/"
    (policy,) = resources(template, "AWS::S3::BucketPolicy").values()
    tls = [s for s in policy["PolicyDocument"]["Statement"]
           if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert tls, "a statement denies requests without TLS"
    (queue,) = resources(template, "AWS::SQS::Queue").values()
    assert queue["SqsManagedSseEnabled"] is True
    (workgroup,) = resources(template, "AWS::Athena::WorkGroup").values()
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "BytesScannedCutoffPerQuery"}
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"


def test_every_stream_reader_may_decrypt_the_streams_key(template):
    roles = resources(template, "AWS::IAM::Role")
    documents = {
        "IngestRole": roles["IngestRole"]["Policies"][0]["PolicyDocument"],
        "ConsumerPolicy": resources(template, "AWS::IAM::ManagedPolicy")["ConsumerPolicy"][
            "PolicyDocument"],
    }
    for name, document in documents.items():
        decrypt = [s for s in document["Statement"] if s["Action"] == "kms:Decrypt"]
        assert [s["Resource"] for s in decrypt] == [{"Ref": "StreamKmsKeyArn"}], name


def test_iam_grants_no_wildcard_actions_or_resources(template):
    roles = resources(template, "AWS::IAM::Role")
    assert set(roles) == {"IngestRole", "CompactRole"}
    documents = {name: [p["PolicyDocument"] for p in role["Policies"]]
                 for name, role in roles.items()}
    for name, role in roles.items():
        assert "ManagedPolicyArns" not in role, f"{name}: inline, scoped policies only"
    for name, policy in resources(template, "AWS::IAM::ManagedPolicy").items():
        documents[name] = [policy["PolicyDocument"]]
    assert "ConsumerPolicy" in documents
    for name, policies in documents.items():
        for policy in policies:
            for statement in policy["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in a for a in actions), (name, statement)
                targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                assert all(t != "*" for t in targets), (name, statement)
    # The functions use these roles, so SAM adds no managed policies of its own.
    functions = resources(template, "AWS::Serverless::Function")
    assert {f["Role"]["Fn::GetAtt"][0] for f in functions.values()} == set(roles)
    ingest = roles["IngestRole"]["Policies"][0]["PolicyDocument"]["Statement"]
    writes = next(s for s in ingest if s["Sid"] == "WriteTheLake")
    assert writes["Action"] == "s3:PutObject", "the ingest function cannot remove or read files"


def test_the_ingest_mapping_retries_bisects_and_reports_item_failures(template):
    functions = resources(template, "AWS::Serverless::Function")
    ingest, compact = functions["IngestFunction"], functions["CompactFunction"]
    for function in (ingest, compact):
        assert function["Runtime"] == "provided.al2023"
        assert function["Handler"] == "bootstrap"
    event = ingest["Events"]["Ctr"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BisectBatchOnFunctionError"] is True
    assert 0 < event["MaximumRetryAttempts"] <= 10
    assert 0 < event["MaximumRecordAgeInSeconds"] <= 7 * 86400
    # A batch sent to the failure queue can still be read from the stream afterwards.
    retention = template["Parameters"]["StreamRetentionHours"]
    assert retention["MinValue"] * 3600 >= event["MaximumRecordAgeInSeconds"]
    assert event["DestinationConfig"]["OnFailure"]["Destination"]
    assert ingest["Environment"]["Variables"]["CTRLAKE_LAKE"]
    assert compact["Events"]["Hourly"]["Type"] == "ScheduleV2"
    assert compact["MemorySize"] >= 1024, "a day of 1M contacts compacts in ~500 MB"
    storage = resources(template, "AWS::Connect::InstanceStorageConfig")["ConnectCtrStorage"]
    assert storage["ResourceType"] == "CONTACT_TRACE_RECORDS"
    assert storage["StorageType"] == "KINESIS_STREAM"
    assert storage["KinesisStreamConfig"]["StreamArn"] == {"Fn::GetAtt": ["CtrStream", "Arn"]}


@pytest.mark.parametrize("ddl_file,table", [("create_table.sql", "CtrTable"),
                                            ("create_table_agent_events.sql", "AgentEventsTable")])
def test_the_template_and_the_ddl_set_the_same_table_properties(template, ddl_file, table):
    import re
    ddl = (REPO / "infra" / "athena" / ddl_file).read_text()
    properties = dict(re.findall(r"'([a-z.]+)'='([^']*)'", ddl))
    parameters = resources(template, "AWS::Glue::Table")[table]["TableInput"]["Parameters"]
    shared = {k: v for k, v in properties.items() if k != "storage.location.template"}
    assert shared and {k: parameters.get(k) for k in shared} == shared
    ddl_location = properties["storage.location.template"].replace("YOUR-BUCKET", "${LakeBucket}")
    template_location = parameters["storage.location.template"]["Fn::Sub"].replace("${!dt}", "${dt}")
    assert template_location == ddl_location


def test_the_consumer_image_builds_the_cli_from_the_locked_sources():
    # Docker is not run here; what the image build depends on is checked instead.
    dockerfile = (REPO / "infra" / "consumer" / "Dockerfile").read_text()
    assert "cargo build --release --locked -p ctrlake-cli" in dockerfile
    cli = (REPO / "crates" / "ctrlake-cli" / "Cargo.toml").read_text()
    assert 'name = "ctrlake"' in cli, "ctrlake-cli builds the ctrlake binary the image copies"
    locked = subprocess.run(["cargo", "metadata", "--locked", "--offline", "--format-version", "1"],
                            cwd=REPO, capture_output=True, timeout=120)
    assert locked.returncode == 0, "Cargo.lock is current: " + locked.stderr.decode()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "\nUSER 65532:65532" in final_stage, "the consumer does not run as root"
    assert '\nENTRYPOINT ["ctrlake"]' in final_stage, "exec form: ctrlake gets SIGTERM"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", "target"} <= set(ignored), "the build context is the sources"
