#!/usr/bin/env python3
"""Live sources end to end, against a real S3/SQS emulator (moto server on 127.0.0.1).

Usage: sources.py BIN FAILPOINTS_BIN WORKDIR

1. S3 pass (`auditwatch ingest s3://…`) through a fault proxy that answers 503 SlowDown
   to a share of GETs: organisation-trail paths, digests and other services' files in
   the bucket, exact eventID set, idempotent re-run, a late file in an old date folder,
   account allow-list.
2. SQS under `serve`: every notification delivered twice and shuffled, SNS-wrapped and
   CloudTrail-delivery shapes, 2 % of notifications dropped (found by reconciliation),
   notifications for keys that do not exist, truncated and corrupted gzip, a garbage
   message, a 2-second visibility timeout; exact eventID set, quarantined objects with
   reasons in /api/v1/sources, per-source metrics.
3. Crash safety: the fail-point build of `serve` is SIGKILLed at every named fail point
   of the commit protocol and at random moments (AUDITWATCH_KILLS, default 20 in all)
   while it ingests from SQS and S3; at the end the stored eventIDs are exactly the
   generator's: nothing lost, nothing doubled.
4. LookupEvents against a second Auditwatch behind a proxy that throttles 30 % of calls.
5. An S3 source declared through `POST /api/v1/sources` while `serve` runs: it runs,
   comes back after a restart, and goes with `DELETE`; every change is audited.
"""
import gzip
import http.client
import http.server
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3

from harness import Serve, free_port, sandbox_aws, wait_for, wait_until

BIN, FP_BIN, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
KILLS = int(os.environ.get("AUDITWATCH_KILLS", "20"))
rng = random.Random(2024)


def log(msg):
    print(f"   {msg}", flush=True)


# ---------------------------------------------------------------- moto and the proxy
MOTO_PORT = free_port()
moto_bin = os.path.join(os.path.dirname(sys.executable), "moto_server")
moto = subprocess.Popen([moto_bin, "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
MOTO = f"http://127.0.0.1:{MOTO_PORT}"


class Faults:
    """What the proxy does to requests: a share of object GETs answered 503 SlowDown,
    a share delayed (longer than an SQS visibility timeout)."""
    get_503_share = 0.0
    injected = 0
    delay_share = 0.0
    delay_seconds = 0.0
    delayed = 0
    lock = threading.Lock()


def relay(handler, port, body):
    """Forwards the handler's request to 127.0.0.1:port and writes the answer back."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("connection",)}
    conn.request(handler.command, handler.path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    handler.send_response(resp.status)
    for k, v in resp.getheaders():
        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
            handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
    conn.close()


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path, _, query = self.path.partition("?")
        is_object_get = (self.command == "GET" and path.count("/") >= 2
                         and not path.endswith("/") and "list-type" not in query)
        if is_object_get and rng.random() < Faults.get_503_share:
            with Faults.lock:
                Faults.injected += 1
            msg = b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        if is_object_get and rng.random() < Faults.delay_share:
            with Faults.lock:
                Faults.delayed += 1
            time.sleep(Faults.delay_seconds)
        relay(self, MOTO_PORT, body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A killed client leaves a broken pipe behind; that is the test, not a failure.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class Throttle(http.server.BaseHTTPRequestHandler):
    """In front of an AWS-compatible CloudTrail endpoint: a share of calls answered
    400 ThrottlingException, as AWS answers more than 2 LookupEvents calls a second."""
    protocol_version = "HTTP/1.1"
    upstream_port = 0
    share = 0.0
    injected = 0
    passed = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if rng.random() < Throttle.share:
            Throttle.injected += 1
            msg = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("x-amzn-ErrorType", "ThrottlingException")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        Throttle.passed += 1
        relay(self, Throttle.upstream_port, body)

    do_GET = do_POST


PROXY_PORT = free_port()
proxy = QuietServer(("127.0.0.1", PROXY_PORT), Proxy)
threading.Thread(target=proxy.serve_forever, daemon=True).start()
PROXY = f"http://127.0.0.1:{PROXY_PORT}"

sandbox_aws(WORK, "us-east-1")
ENV = dict(os.environ, AWS_ENDPOINT_URL=PROXY, AUDITWATCH_LOG="warn,auditwatch_sources=info")

wait_for(MOTO + "/moto-api/", moto, "moto")
s3 = boto3.client("s3", endpoint_url=MOTO, region_name="us-east-1")
sqs = boto3.client("sqs", endpoint_url=MOTO, region_name="us-east-1")


# ---------------------------------------------------------------- data
ACCOUNTS = ["111122223333", "444455556666", "777788889999"]


def generate(name, events, seed, per_file=40):
    """Generated events, re-cut into small files spread over three accounts' folders
    (the generator writes ~1000 events a file; these tests want many objects)."""
    raw = os.path.join(WORK, name + "-raw")
    out = os.path.join(WORK, name)
    subprocess.run([BIN, "generate", "--out", raw, "--events", str(events), "--seed", str(seed)],
                   check=True, stdout=subprocess.DEVNULL)
    files = []
    n = 0
    for root, _, names in sorted(os.walk(raw)):
        for fname in sorted(names):
            if not fname.endswith(".json.gz"):
                continue
            rel = os.path.relpath(os.path.join(root, fname), raw).split("/")
            # AWSLogs/<account>/CloudTrail/<region>/<y>/<m>/<d>/<file>
            region, y, m, d = rel[3], rel[4], rel[5], rel[6]
            with gzip.open(os.path.join(root, fname)) as f:
                records = json.load(f)["Records"]
            for i in range(0, len(records), per_file):
                account = ACCOUNTS[n % len(ACCOUNTS)]
                n += 1
                key = (f"AWSLogs/{account}/CloudTrail/{region}/{y}/{m}/{d}/"
                       f"{account}_CloudTrail_{region}_{y}{m}{d}T0000Z_{n:06d}.json.gz")
                path = os.path.join(out, key)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(gzip.compress(json.dumps({"Records": records[i:i + per_file]}).encode()))
                files.append((key, path))
    files.sort()
    return files


def ids_of(path):
    with gzip.open(path) as f:
        return [r["eventID"] for r in json.load(f)["Records"]]


def records_file(n, day="2024/01/15", account="111122223333", tag="late"):
    """A small CloudTrail file with `n` new events; returns (key suffix, bytes, ids)."""
    ids = [f"{tag}-{day.replace('/', '')}-{i:04d}-{rng.randrange(1 << 30):08x}" for i in range(n)]
    y, m, d = day.split("/")
    records = [{"eventVersion": "1.08", "eventTime": f"{y}-{m}-{d}T12:00:{i % 60:02d}Z",
                "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
                "userIdentity": {"type": "IAMUser", "userName": "late-user",
                                 "accountId": account},
                "eventID": eid, "recipientAccountId": account, "readOnly": True}
               for i, eid in enumerate(ids)]
    body = gzip.compress(json.dumps({"Records": records}).encode())
    key = (f"AWSLogs/{account}/CloudTrail/us-east-1/{day}/"
           f"{account}_CloudTrail_us-east-1_{y}{m}{d}T1200Z_{tag}{rng.randrange(1 << 30):x}.json.gz")
    return key, body, ids


def stored_ids(data_dir):
    out = subprocess.run([BIN, "--data-dir", data_dir, "sql", 'SELECT "eventID" AS id FROM events',
                          "--format", "json", "--max-rows", "10000000"],
                         check=True, capture_output=True, text=True, env=ENV).stdout
    return [r["id"] for r in json.loads(out)]


def check_exact(data_dir, expected, what):
    got = stored_ids(data_dir)
    assert len(got) == len(set(got)), f"{what}: {len(got) - len(set(got))} events stored twice"
    missing = set(expected) - set(got)
    extra = set(got) - set(expected)
    assert not missing and not extra, f"{what}: {len(missing)} lost, {len(extra)} unexpected, e.g. {list(missing)[:3]} {list(extra)[:3]}"
    log(f"{what}: exactly the {len(expected)} expected events, none twice")


def ingest_s3(data_dir, url, *extra):
    p = subprocess.run([BIN, "--data-dir", data_dir, "ingest", url, "--json", *extra],
                       capture_output=True, text=True, env=ENV)
    assert p.returncode in (0, 2), f"ingest {url} failed ({p.returncode}): {p.stderr}"
    return json.loads(p.stdout)


# ---------------------------------------------------------------- 1. the S3 pass
def test_s3_pass():
    print("== sources: S3 pass (ingest s3://) with 503 SlowDown on 25 % of GETs", flush=True)
    files = generate("gen-s3", 3000, 11)
    s3.create_bucket(Bucket="trail")
    accounts = sorted({rel.split("/")[1] for rel, _ in files})
    org_account = accounts[0]
    expected = []
    for rel, path in files:
        key = "org/" + rel
        if rel.split("/")[1] == org_account:
            key = "org/AWSLogs/o-aa11bb22cc/" + rel[len("AWSLogs/"):]
        with open(path, "rb") as f:
            s3.put_object(Bucket="trail", Key=key, Body=f.read())
        expected += ids_of(path)
    # Files that are not events: a digest and another service's file.
    s3.put_object(Bucket="trail", Key=f"org/AWSLogs/{accounts[1]}/CloudTrail-Digest/us-east-1/2024/01/15/"
                  f"{accounts[1]}_CloudTrail-Digest_us-east-1_t_us-east-1_20240115T000000Z.json.gz",
                  Body=gzip.compress(b'{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}'))
    s3.put_object(Bucket="trail", Key=f"org/AWSLogs/{accounts[1]}/Config/us-east-1/2024/1/15/x.json.gz",
                  Body=gzip.compress(b'{"configurationItems":[]}'))
    Faults.get_503_share = 0.25
    data = os.path.join(WORK, "d-s3")
    first = ingest_s3(data, "s3://trail/org/")
    assert Faults.injected > 0, "the proxy injected no 503"
    log(f"first pass: {first['events_added']} added, {first['files_read']} files, "
        f"{first['files_skipped']} skipped, {Faults.injected} GETs answered 503")
    assert first["events_added"] == len(expected), first
    assert first["files_skipped"] == 1, first  # the digest, taken aside
    check_exact(data, expected, "S3 pass")
    sources = subprocess.run([BIN, "--data-dir", data, "sql",
                              'SELECT DISTINCT source FROM events WHERE source LIKE \'%o-aa11bb22cc%\'',
                              "--format", "json"], capture_output=True, text=True, check=True).stdout
    assert f"s3://trail/org/AWSLogs/o-aa11bb22cc/{org_account}/" in sources, sources
    again = ingest_s3(data, "s3://trail/org/")
    assert again["events_added"] == 0 and again["files_read"] == 0, again
    log(f"second pass: 0 added, {again['files_unchanged']} objects unchanged")
    # A late file in an old date folder (lexically before everything taken).
    key, body, ids = records_file(5, day="2020/02/02", account=accounts[1])
    s3.put_object(Bucket="trail", Key="org/" + key, Body=body)
    late = ingest_s3(data, "s3://trail/org/")
    assert late["events_added"] == 5 and late["files_read"] == 1, late
    check_exact(data, expected + ids, "late file in an old folder")
    # Allow-lists: one account only.
    only = ingest_s3(os.path.join(WORK, "d-s3-one"), "s3://trail/org/", "--accounts", accounts[1])
    want = [i for rel, path in files if rel.split("/")[1] == accounts[1] for i in ids_of(path)]
    check_exact(os.path.join(WORK, "d-s3-one"), want + ids, "account allow-list")
    assert only["events_added"] == len(want) + 5
    Faults.get_503_share = 0.0
    Faults.injected = 0


# ---------------------------------------------------------------- serve with an SQS source
def s3_notification(bucket, key, size, etag):
    from urllib.parse import quote_plus
    return json.dumps({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                                    "eventName": "ObjectCreated:Put",
                                    "s3": {"bucket": {"name": bucket},
                                           "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag}}}]})


def sns_wrap(message):
    return json.dumps({"Type": "Notification", "MessageId": str(rng.random()),
                       "TopicArn": "arn:aws:sns:us-east-1:111122223333:trail", "Message": message})


def notifications_for(bucket, keys):
    """One notification per object, in the three shapes the source accepts."""
    msgs = []
    for i, key in enumerate(keys):
        head = s3.head_object(Bucket=bucket, Key=key)
        n = s3_notification(bucket, key, head["ContentLength"], head["ETag"].strip('"'))
        if i % 3 == 1:
            n = sns_wrap(n)
        elif i % 3 == 2:
            n = sns_wrap(json.dumps({"s3Bucket": bucket, "s3ObjectKey": [key]}))
        msgs.append(n)
    return msgs


def send_all(queue_url, bodies):
    for i in range(0, len(bodies), 10):
        entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def queue_empty(queue_url):
    a = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]) == 0


class Server(Serve):
    def __init__(self, binary, data_dir, config, failpoint=None, env=None):
        env = dict(env or ENV, AUDITWATCH_ADMIN_PASSWORD="sources-admin-password-1")
        super().__init__(binary, data_dir, config, env, failpoint)

    def get(self, path, token):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read().decode()


def write_config(name, queue_url, bucket, interval):
    path = os.path.join(WORK, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f"""
[[sources]]
name = "{name}"
kind = "sqs"
queue_url = "{queue_url}"
visibility_timeout_seconds = 2
wait_seconds = 1
max_receives = 3
bucket = "{bucket}"
interval_seconds = {interval}
""")
    return path


def admin_token(data_dir):
    subprocess.run([BIN, "--data-dir", data_dir, "users", "add", "admin", "--role", "admin", "--password-stdin"],
                   input="sources-admin-password-1\n", text=True, check=True, capture_output=True)
    out = subprocess.run([BIN, "--data-dir", data_dir, "users", "tokens", "create", "admin", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["token"]


def upload(bucket, files):
    keys, expected = [], []
    for rel, path in files:
        with open(path, "rb") as f:
            s3.put_object(Bucket=bucket, Key=rel, Body=f.read())
        keys.append(rel)
        expected += ids_of(path)
    return keys, expected


def test_sqs_faults():
    print("== sources: SQS under serve (duplicates, reordering, drops, missing keys, bad gzip, 503s)", flush=True)
    files = generate("gen-sqs", 4000, 12)
    s3.create_bucket(Bucket="live")
    queue_url = sqs.create_queue(QueueName="notes", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    keys, expected = upload("live", files)
    good = notifications_for("live", keys)
    dropped = max(1, len(good) * 2 // 100)
    kept = good[dropped:]
    # Objects that cannot be decoded, and keys that do not exist.
    _, body, _ = records_file(3, tag="trunc")
    bad = {"AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/16/truncated.json.gz": body[: len(body) // 2]}
    corrupt = bytearray(records_file(3, tag="corrupt")[1])
    for i in range(20, min(60, len(corrupt) - 10)):
        corrupt[i] ^= 0x5A
    bad["AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/16/corrupted.json.gz"] = bytes(corrupt)
    for k, b in bad.items():
        s3.put_object(Bucket="live", Key=k, Body=b)
    extra = notifications_for("live", list(bad))
    missing = [s3_notification("live", f"AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/17/gone-{i}.json.gz", 10, "abc")
               for i in range(3)]
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "live"})
    bodies = (kept + extra + missing) * 2 + [test_event, "hello, not a notification"]
    rng.shuffle(bodies)
    send_all(queue_url, bodies)
    log(f"{len(keys)} objects, {len(bodies)} messages ({dropped} notifications dropped, each other one twice)")
    data = os.path.join(WORK, "d-sqs")
    token = admin_token(data)
    config = write_config("live-queue", queue_url, "live", interval=20)
    Faults.get_503_share = 0.2
    Faults.delay_share, Faults.delay_seconds = 0.05, 3.5
    server = Server(BIN, data, config)
    try:
        def converged():
            n = len(stored_ids(data)) if os.path.exists(os.path.join(data, "lake")) else 0
            return n == len(expected) and queue_empty(queue_url), n
        wait_until("every event, and an empty queue", converged, timeout=240, every=2)
        check_exact(data, expected, "SQS with faults")
        status = json.loads(server.get("/api/v1/sources", token))
        assert status[0]["name"] == "live-queue" and status[0]["kind"] == "sqs", status
        failed = {f["location"]: f for f in status[0]["failed"]}
        for k in bad:
            f = failed.get(f"s3://live/{k}")
            assert f and f["status"] in ("quarantined", "rejected") and f["reason"], (k, failed)
        for i in range(3):
            f = failed.get(f"s3://live/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/17/gone-{i}.json.gz")
            assert f and f["status"] == "quarantined" and "no such object" in f["reason"], failed
        log(f"quarantined with reasons: {sorted(f['status'] + ': ' + (f['reason'] or '')[:60] for f in failed.values())[:3]} …")
        metrics = server.get("/metrics", token)
        assert 'auditwatch_source_events_added{source="live-queue",kind="sqs"}' in metrics, metrics[-2000:]
        # Only the broken and missing objects were given up on: an object whose GET
        # outlasted the 2 s visibility timeout (its message's visibility was renewed)
        # was not received again and again until quarantined.
        troubled = set(failed)
        expected_troubled = {f"s3://live/{k}" for k in bad} | {
            f"s3://live/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/17/gone-{i}.json.gz" for i in range(3)}
        assert troubled - {loc for loc in troubled if loc.startswith("sqs://")} == expected_troubled, \
            sorted(troubled ^ expected_troubled)[:5]
        assert Faults.delayed > 0, "the proxy delayed no GET"
        log(f"503s injected: {Faults.injected}; GETs delayed 3.5 s past the 2 s visibility timeout: {Faults.delayed}")
    finally:
        server.stop()
        Faults.get_503_share = 0.0
        Faults.delay_share = 0.0


# ---------------------------------------------------------------- 3. kill tests
FAIL_POINTS = ["store.segments_written", "sqs.before_commit", "store.catalog_committed",
               "sqs.after_commit", "sqs.before_delete", "sqs.after_delete",
               "s3.before_commit", "s3.after_commit"]


def test_kills():
    print(f"== sources: crash safety ({KILLS} SIGKILLs at fail points and at random moments)", flush=True)
    files = generate("gen-kill", 3000, 13)
    s3.create_bucket(Bucket="crash")
    queue_url = sqs.create_queue(QueueName="crashq", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    keys, expected = upload("crash", files)
    notes = notifications_for("crash", keys)
    dropped = max(1, len(notes) * 2 // 100)
    bodies = notes[dropped:] * 2
    rng.shuffle(bodies)
    send_all(queue_url, bodies)
    data = os.path.join(WORK, "d-kill")
    admin_token(data)
    config = write_config("crash-queue", queue_url, "crash", interval=8)
    kills = 0
    for point in FAIL_POINTS:
        if point.startswith("s3."):
            # Work for the reconciliation listing: a file with no notification.
            key, body, ids = records_file(4, day="2024/01/20", tag=f"unnotified-{point}")
            s3.put_object(Bucket="crash", Key=key, Body=body)
            expected += ids
        else:
            # Work for the queue: more events, notified (twice).
            key, body, ids = records_file(6, day="2024/01/21", tag=f"notified-{point}")
            s3.put_object(Bucket="crash", Key=key, Body=body)
            expected += ids
            send_all(queue_url, notifications_for("crash", [key]) * 2)
        server = Server(FP_BIN, data, config, failpoint=point)
        reached = server.reached.wait(timeout=60)
        server.kill()
        assert reached, f"fail point {point} was never reached; stderr: {''.join(server.lines)[-2000:]}"
        kills += 1
        log(f"killed at {point}")
    while kills < KILLS:
        if kills % 3 == 0:
            key, body, ids = records_file(5, day="2024/01/22", tag=f"random{kills}")
            s3.put_object(Bucket="crash", Key=key, Body=body)
            expected += ids
            if kills % 2 == 0:
                send_all(queue_url, notifications_for("crash", [key]) * 2)
        server = Server(FP_BIN, data, config)
        time.sleep(rng.uniform(0.3, 4.0))
        server.kill()
        kills += 1
    log(f"{kills} kills in all; now running to completion")
    server = Server(FP_BIN, data, config)
    try:
        def converged():
            n = len(stored_ids(data))
            return n >= len(expected) and queue_empty(queue_url), n
        wait_until("every event after the crashes", converged, timeout=240, every=2)
        check_exact(data, expected, f"after {kills} SIGKILLs")
    finally:
        server.stop()


# ---------------------------------------------------------------- 4. LookupEvents
def test_lookup():
    print("== sources: LookupEvents source against a second Auditwatch's AWS-compatible endpoint, "
          "30 % of calls throttled", flush=True)
    gen = os.path.join(WORK, "gen-lookup")
    subprocess.run([BIN, "generate", "--out", gen, "--events", "700", "--seed", "14"],
                   check=True, stdout=subprocess.DEVNULL)
    upstream = os.path.join(WORK, "d-upstream")
    subprocess.run([BIN, "--data-dir", upstream, "ingest", gen], check=True, stdout=subprocess.DEVNULL)
    expected = stored_ids(upstream)
    admin_token(upstream)
    key = json.loads(subprocess.run([BIN, "--data-dir", upstream, "users", "tokens", "create", "admin", "--aws",
                                     "--format", "json"], capture_output=True, text=True, check=True).stdout)
    up = Server(BIN, upstream, None)
    wait_until("the upstream server", lambda: (_http_ok(f"http://127.0.0.1:{up.port}/healthz"), None), timeout=60)
    Throttle.upstream_port, Throttle.share = up.port, 0.3
    throttle = QuietServer(("127.0.0.1", free_port()), Throttle)
    threading.Thread(target=throttle.serve_forever, daemon=True).start()
    config = os.path.join(WORK, "lookup.toml")
    with open(config, "w") as f:
        f.write(f"""
[[sources]]
name = "seed"
kind = "lookup"
regions = ["us-east-1"]
endpoint_url = "http://127.0.0.1:{throttle.server_address[1]}"
start = "400d"
requests_per_second = 2
interval_seconds = 3
""")
    env = {k: v for k, v in ENV.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["AWS_ACCESS_KEY_ID"] = key["accessKeyId"]
    env["AWS_SECRET_ACCESS_KEY"] = key["secretAccessKey"]
    data = os.path.join(WORK, "d-lookup")
    token = admin_token(data)
    down = Server(BIN, data, config, env=env)
    try:
        wait_until("the server with the lookup source",
                   lambda: (_http_ok(f"http://127.0.0.1:{down.port}/healthz"), "".join(down.lines)[-500:]), timeout=60)
        def passes():
            status = json.loads(down.get("/api/v1/sources", token))[0]
            n = len(stored_ids(data)) if os.path.exists(os.path.join(data, "lake")) else 0
            return status["passes"] >= 2 and n >= len(expected), (status["passes"], n, status["last_error"])
        wait_until("two LookupEvents passes", passes, timeout=180, every=2)
        check_exact(data, expected, "LookupEvents source (two passes, overlap re-read)")
        src = subprocess.run([BIN, "--data-dir", data, "sql", "SELECT DISTINCT source FROM events", "--format", "json"],
                             capture_output=True, text=True, check=True).stdout
        assert json.loads(src) == [{"source": "lookup-api:seed:us-east-1"}], src
        assert Throttle.injected > 0, "no call was throttled"
        log(f"{Throttle.injected} of {Throttle.injected + Throttle.passed} LookupEvents calls answered "
            f"ThrottlingException; every event arrived once")
    finally:
        down.stop()
        up.stop()
        throttle.shutdown()


# ---------------------------------------------------------------- 5. declared in the UI/API
def api(server, method, path, token, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_declared():
    print("== sources: an S3 source declared through the API while serve runs, kept across a restart", flush=True)
    files = generate("gen-declared", 600, 15)
    s3.create_bucket(Bucket="declared")
    _, expected = upload("declared", files)
    data = os.path.join(WORK, "d-declared")
    token = admin_token(data)
    server = Server(BIN, data, None)
    try:
        wait_until("serve", lambda: (_http_ok(f"http://127.0.0.1:{server.port}/healthz"), None), timeout=60)
        status, body = api(server, "POST", "/api/v1/sources", token,
                           {"name": "trail", "kind": "s3", "bucket": "declared", "endpoint_url": MOTO})
        assert status == 400 and "only be set in the configuration file" in body, (status, body)
        status, body = api(server, "POST", "/api/v1/sources", token,
                           {"name": "trail", "kind": "s3", "bucket": "declared", "interval_seconds": 2})
        assert status == 201, (status, body)
        wait_until("the declared source's events",
                   lambda: (os.path.exists(os.path.join(data, "lake")) and len(stored_ids(data)) == len(expected), None),
                   timeout=120, every=1)
        check_exact(data, expected, "S3 source declared through the API")
        server.stop()
        server = Server(BIN, data, None)
        wait_until("serve again", lambda: (_http_ok(f"http://127.0.0.1:{server.port}/healthz"), None), timeout=60)
        listed = json.loads(server.get("/api/v1/sources", token))
        assert [(s["name"], s["origin"], s["declared_by"]) for s in listed] == [("trail", "ui", "admin")], listed
        # New objects are taken by the source started again from the catalog.
        key, body, ids = records_file(4, tag="after-restart")
        s3.put_object(Bucket="declared", Key=key, Body=body)
        wait_until("the object written after the restart",
                   lambda: (len(stored_ids(data)) == len(expected) + 4, None), timeout=60, every=1)
        check_exact(data, expected + ids, "after the restart")
        status, _ = api(server, "DELETE", "/api/v1/sources/trail", token)
        assert status == 204, status
        assert json.loads(server.get("/api/v1/sources", token)) == []
        audit = json.loads(server.get("/api/v1/audit?action=source.", token))
        actions = sorted(e["action"] for e in audit["entries"])
        assert actions.count("source.declare") == 2 and actions.count("source.remove") == 1, actions
        log("declared (refused with endpoint_url, then accepted), ran, survived a restart, removed; all audited")
    finally:
        server.stop()


def _http_ok(url):
    try:
        return urllib.request.urlopen(url, timeout=2).status == 200
    except Exception:
        return False


try:
    test_lookup()
    test_s3_pass()
    test_sqs_faults()
    test_kills()
    test_declared()
    print("== sources: all passed", flush=True)
finally:
    proxy.shutdown()
    moto.terminate()
    moto.wait()
