"""boto3 and awscli, unchanged, against Auditwatch's AWS-compatible CloudTrail endpoint.

Usage: aws_clients.py URL INPUT_DIR ADMIN_KEY.json SCOPED_KEY.json SCOPED_ACCOUNT

The expected answers are computed here, independently, from the CloudTrail files under
INPUT_DIR (the same files the server ingested), following LookupEvents semantics. The
keys are Auditwatch-issued access key pairs (`users tokens create NAME --aws`): the
admin's sees every account, the scoped analyst's only SCOPED_ACCOUNT; requests are
signed by botocore with Signature V4 as for AWS itself.
"""

import collections
import datetime as dt
import gzip
import json
import os
import pathlib
import subprocess
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

URL, INPUT = sys.argv[1], pathlib.Path(sys.argv[2])


def creds(path):
    k = json.loads(pathlib.Path(path).read_text())
    return {"aws_access_key_id": k["accessKeyId"], "aws_secret_access_key": k["secretAccessKey"]}


CREDS = creds(sys.argv[3])
SCOPED = creds(sys.argv[4])
SCOPED_ACCOUNT = sys.argv[5]


def load_records():
    out = []
    for p in sorted(INPUT.rglob("*.json.gz")):
        if "CloudTrail-Digest" in p.parts:
            continue
        with gzip.open(p) as f:
            out.extend(json.load(f)["Records"])
    return out


def username(r):
    i = r.get("userIdentity") or {}
    kind = i.get("type", "")
    arn_last = (i.get("arn") or "").rsplit("/", 1)[-1] if "/" in (i.get("arn") or "") else None
    fallback = i.get("userName") or i.get("principalId")
    if kind == "Root":
        return "root"
    if kind == "AssumedRole":
        return arn_last or fallback
    if kind == "FederatedUser":
        return arn_last or fallback
    if kind == "AWSService":
        return i.get("invokedBy") or fallback
    return fallback


def attribute_values(r):
    """Every (key, value) pair this record matches."""
    pairs = {
        ("EventId", r.get("eventID")),
        ("EventName", r.get("eventName")),
        ("ReadOnly", str(r.get("readOnly")).lower()),
        ("Username", username(r)),
        ("EventSource", r.get("eventSource")),
        ("AccessKeyId", (r.get("userIdentity") or {}).get("accessKeyId")),
    }
    for res in r.get("resources") or []:
        pairs.add(("ResourceType", res.get("type")))
        arn = res.get("ARN")
        if arn:
            pairs.add(("ResourceName", arn))
            last = arn.replace(":", "/").rsplit("/", 1)[-1]
            pairs.add(("ResourceName", last))
    return {p for p in pairs if p[1] is not None}


records = load_records()
index = collections.defaultdict(set)
for r in records:
    for pair in attribute_values(r):
        index[pair].add(r["eventID"])
print(f"{len(records)} records read from {INPUT}")

client = boto3.client(
    "cloudtrail",
    endpoint_url=URL,
    region_name="us-east-1",
    config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    **CREDS,
)
paginator = client.get_paginator("lookup_events")
START = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
END = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)

multi_page = 0
for key in ["EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId"]:
    candidates = [(v, ids) for (k, v), ids in index.items() if k == key]
    # The busiest value, so that paging is exercised; EventId has one event per value.
    value, expected = max(candidates, key=lambda c: (len(c[1]) if len(c[1]) < 3000 else 0, c[0]))
    got, times, pages = [], [], 0
    for page in paginator.paginate(
        LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}],
        StartTime=START,
        EndTime=END,
    ):
        pages += 1
        assert len(page["Events"]) <= 50
        for e in page["Events"]:
            got.append(e["EventId"])
            times.append(e["EventTime"])
            inner = json.loads(e["CloudTrailEvent"])
            assert inner["eventID"] == e["EventId"]
            assert e["EventName"] == inner["eventName"]
    assert len(got) == len(set(got)), f"{key}={value}: duplicates across pages"
    assert set(got) == expected, f"{key}={value}: {len(got)} events, expected {len(expected)}"
    assert times == sorted(times, reverse=True), f"{key}={value}: not newest first"
    multi_page += pages > 1
    print(f"boto3 {key}={value!r}: {len(got)} events in {pages} pages, as expected")
assert multi_page >= 3, "pagination was not exercised"

# A page with MaxResults, and an event's shape.
page = client.lookup_events(MaxResults=3, StartTime=START, EndTime=END)
assert len(page["Events"]) == 3 and "NextToken" in page
e = page["Events"][0]
assert isinstance(e["EventTime"], dt.datetime)
assert e["ReadOnly"] in ("true", "false")
assert isinstance(e["Resources"], list)

# Every error LookupEvents can give.
errors = [
    ({"MaxResults": 51}, "InvalidMaxResultsException"),
    ({"MaxResults": 0}, "InvalidMaxResultsException"),
    (
        {"LookupAttributes": [
            {"AttributeKey": "EventName", "AttributeValue": "a"},
            {"AttributeKey": "Username", "AttributeValue": "b"},
        ]},
        "InvalidLookupAttributesException",
    ),
    ({"LookupAttributes": [{"AttributeKey": "Colour", "AttributeValue": "a"}]}, "InvalidLookupAttributesException"),
    ({"StartTime": END, "EndTime": START}, "InvalidTimeRangeException"),
    ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
    ({"EventCategory": "data"}, "InvalidEventCategoryException"),
]
for kwargs, code in errors:
    try:
        client.lookup_events(**kwargs)
    except ClientError as err:
        assert err.response["Error"]["Code"] == code, (kwargs, err.response["Error"])
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        print(f"boto3 {code}: {err.response['Error']['Message']}")
    else:
        raise AssertionError(f"{kwargs} did not fail")
# A token bound to another query.
token = client.lookup_events(MaxResults=1)["NextToken"]
try:
    client.lookup_events(MaxResults=1, NextToken=token, LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "true"}])
    raise AssertionError("a token of another query was accepted")
except ClientError as err:
    assert err.response["Error"]["Code"] == "InvalidNextTokenException"
assert client.lookup_events(EventCategory="insight")["Events"] == []

# awscli, unchanged: auto-pagination over the busiest event name.
(name, expected) = max(((v, ids) for (k, v), ids in index.items() if k == "EventName"), key=lambda c: len(c[1]))
env = dict(os.environ, AWS_ACCESS_KEY_ID=CREDS["aws_access_key_id"], AWS_SECRET_ACCESS_KEY=CREDS["aws_secret_access_key"], AWS_DEFAULT_REGION="us-east-1")
out = subprocess.run(
    ["aws", "cloudtrail", "lookup-events", "--endpoint-url", URL, "--output", "json",
     "--start-time", "2000-01-01T00:00:00Z", "--end-time", "2100-01-01T00:00:00Z",
     "--lookup-attributes", f"AttributeKey=EventName,AttributeValue={name}"],
    env=env, check=True, capture_output=True, text=True,
).stdout
ids = [e["EventId"] for e in json.loads(out)["Events"]]
assert len(expected) > 50
assert sorted(ids) == sorted(expected), f"awscli: {len(ids)} events, expected {len(expected)}"
print(f"awscli EventName={name}: {len(ids)} events over {len(ids) // 50 + 1} pages, as expected")
bad = subprocess.run(
    ["aws", "cloudtrail", "lookup-events", "--endpoint-url", URL,
     "--lookup-attributes", "AttributeKey=EventName,AttributeValue=a", "AttributeKey=Username,AttributeValue=b"],
    env=env, capture_output=True, text=True,
)
assert bad.returncode != 0 and "InvalidLookupAttributesException" in bad.stderr, bad.stderr
print("awscli error:", bad.stderr.strip().splitlines()[-1])

# Signature V4 with Auditwatch's keys: a wrong secret, an unknown key and no
# credentials are refused with AWS's error codes.
def code_of(**kw):
    c = boto3.client("cloudtrail", endpoint_url=URL, region_name="us-east-1", **kw)
    try:
        c.lookup_events(MaxResults=1)
    except ClientError as err:
        return err.response["Error"]["Code"]
    raise AssertionError("accepted")


assert code_of(aws_access_key_id=CREDS["aws_access_key_id"], aws_secret_access_key="wrong" * 8) == "InvalidSignatureException"
assert code_of(aws_access_key_id="AWKANOSUCHKEY0000000", aws_secret_access_key="x" * 40) == "UnrecognizedClientException"
print("SigV4: wrong secret and unknown key refused")

# A key limited to one account sees exactly that account's events.
scoped = boto3.client("cloudtrail", endpoint_url=URL, region_name="us-east-1", **SCOPED)
seen = collections.Counter()
for page in scoped.get_paginator("lookup_events").paginate(
    StartTime=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc),
    EndTime=dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc),
    LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
):
    for e in page["Events"]:
        seen[json.loads(e["CloudTrailEvent"])["recipientAccountId"]] += 1
want = sum(1 for r in records if r.get("eventName") == name and r.get("recipientAccountId") == SCOPED_ACCOUNT)
assert dict(seen) == {SCOPED_ACCOUNT: want}, (dict(seen), want)
assert len(expected) > want, "other accounts hold some of these events"
print(f"scoped key: {want} of {len(expected)} {name} events, all in {SCOPED_ACCOUNT}")
print("AWS clients: all checks passed")
