"""Several nodes, one table (issue 9, docs/SCALING.md): three `auditwatch serve`
workers consume one SQS queue of S3 notifications in parallel, with segments in S3
(moto) and the shared catalog in PostgreSQL (Debian's, started here on loopback).

- every notification is sent twice, and a fifth of the files repeat events of
  others, so workers race to store the same events;
- workers are SIGKILLed at the fail points of the commit protocol (after the upload,
  before the catalog commit; after the commit, before the message is deleted) and
  at random moments, and started again;
- at the end a fourth node, with an empty data directory, finds exactly the
  expected eventID set, each event once; at least two workers wrote segments; every
  listed segment is an object in the bucket;
- users and keys are shared too: a key created on the fourth node is accepted by
  every worker's API, and a node with a sealing key of its own is refused;
- a fifth node runs live detection over what the workers commit: every planted
  DeleteTrail event is counted by its rule's alerts exactly once, the alert reaches a
  webhook, and a second node asking to detect is refused.

    python multinode.py BIN FAILPOINTS_BIN WORK
"""
import datetime
import gzip
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

from harness import Serve, free_port, start_moto, start_postgres, wait_until

BIN, FP_BIN, WORK = sys.argv[1], sys.argv[2], os.path.join(sys.argv[3], "multinode")
REGION, TRAIL, LAKE = "us-east-1", "trail", "lake"
rng = random.Random(9)


def log(msg):
    print(f"   {msg}", flush=True)


def events_file(n, serial, day, reuse=()):
    """A CloudTrail file of `n` new events on `day` (plus `reuse`, events of other
    files again; every seventh file's first event is a DeleteTrail); returns (key,
    body, its records)."""
    records = []
    for i in range(n):
        eid = f"mn-{serial:04d}-{i:03d}-{rng.randrange(1 << 30):08x}"
        name = "DeleteTrail" if i == 0 and serial % 7 == 0 else rng.choice(["GetObject", "PutObject"])
        records.append({
            "eventVersion": "1.08", "eventTime": f"{day}T{i % 24:02d}:{i % 60:02d}:{serial % 60:02d}Z",
            "eventSource": "s3.amazonaws.com", "eventName": name,
            "awsRegion": REGION, "sourceIPAddress": "198.51.100.9",
            "userIdentity": {"type": "IAMUser", "userName": f"user{i % 5}", "accountId": "111122223333"},
            "eventID": eid, "recipientAccountId": "111122223333", "readOnly": True})
    records += list(reuse)
    y, m, d = day.split("-")
    key = (f"AWSLogs/111122223333/CloudTrail/{REGION}/{y}/{m}/{d}/"
           f"111122223333_CloudTrail_{REGION}_{y}{m}{d}T0000Z_{serial:05d}.json.gz")
    return key, gzip.compress(json.dumps({"Records": records}).encode()), records


def _answers(port):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
        return True
    except (urllib.error.URLError, OSError):
        return False


class Worker(Serve):
    """One `auditwatch serve` node: its own data directory, the shared config."""

    def __init__(self, name, config, binary=BIN, failpoint=None):
        self.name = name
        self.data = os.path.join(WORK, name)
        env = dict(os.environ, AUDITWATCH_ADMIN_PASSWORD="multinode-admin-password",
                   AUDITWATCH_LOG="warn,auditwatch_store=info")
        super().__init__(binary, self.data, config, env, failpoint)

    def segments_written(self):
        events = os.path.join(self.data, "lake", "events")
        return sum(len(files) for _, _, files in os.walk(events))


hooks = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        hooks.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def api(port, path, token):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def main():
    os.makedirs(WORK, exist_ok=True)
    hook_port = free_port()
    hook_server = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Hook)
    threading.Thread(target=hook_server.serve_forever, daemon=True).start()
    moto, moto_url = start_moto(WORK, REGION)
    pg_url, stop_pg = start_postgres()
    os.environ["AWS_ENDPOINT_URL"] = moto_url
    workers = []
    try:
        s3 = boto3.client("s3", endpoint_url=moto_url, region_name=REGION)
        sqs = boto3.client("sqs", endpoint_url=moto_url, region_name=REGION)
        s3.create_bucket(Bucket=TRAIL)
        s3.create_bucket(Bucket=LAKE)
        queue = sqs.create_queue(QueueName="trail-notes", Attributes={"VisibilityTimeout": "3"})["QueueUrl"]
        # Every node: the same lake and catalog.
        table = f"""
[lake]
url = "s3://{LAKE}/prod"

[catalog]
url = "{pg_url}"
"""
        config = os.path.join(WORK, "node.toml")
        with open(config, "w") as f:
            f.write(table + f"""
[[sources]]
name = "trail-queue"
kind = "sqs"
queue_url = "{queue}"
visibility_timeout_seconds = 3
wait_seconds = 1
max_receives = 20
""")
        # The detecting node: the shared table, no source, one rule and a webhook.
        rules = os.path.join(WORK, "rules.json")
        with open(rules, "w") as f:
            json.dump([{"id": "trail-deleted", "title": "A trail was deleted",
                        "filterPattern": '{ $.eventName = "DeleteTrail" }', "level": "high"}], f)
        detector_config = os.path.join(WORK, "detector.toml")
        with open(detector_config, "w") as f:
            f.write(table + f"""
[detection]
rules = ["{rules}"]
max_lateness_hours = 120       # the events are of the last four days

[[notify]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{hook_port}/alerts"
""")
        expected, deleted = set(), set()
        serial = [0]
        done_records = []

        def publish(files, days):
            """Uploads `files` new files (a fifth of them repeating 10 earlier events)
            and sends each one's notification twice, shuffled."""
            notes = []
            for _ in range(files):
                serial[0] += 1
                reuse = rng.sample(done_records, 10) if done_records and serial[0] % 5 == 0 else ()
                key, body, records = events_file(40, serial[0], rng.choice(days), reuse)
                s3.put_object(Bucket=TRAIL, Key=key, Body=body)
                fresh = records[:40]
                done_records.extend(fresh)
                expected.update(r["eventID"] for r in fresh)
                deleted.update(r["eventID"] for r in fresh if r["eventName"] == "DeleteTrail")
                head = s3.head_object(Bucket=TRAIL, Key=key)
                notes.append(json.dumps({"Records": [{
                    "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": TRAIL},
                           "object": {"key": key, "size": head["ContentLength"],
                                      "eTag": head["ETag"].strip('"')}}}]}))
            bodies = notes * 2
            rng.shuffle(bodies)
            for i in range(0, len(bodies), 10):
                sqs.send_message_batch(QueueUrl=queue, Entries=[
                    {"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])])

        # Every node holds the same sealing key (docs/SCALING.md).
        key = os.urandom(32)
        for name in ("w0", "w1", "w2", "reader", "detector", "second-detector"):
            os.makedirs(os.path.join(WORK, name), exist_ok=True)
            path = os.path.join(WORK, name, "auth.key")
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(key)
        detector = Worker("detector", detector_config)
        workers.append(detector)
        wait_until("the detecting node", lambda: (_answers(detector.port), detector.lines[-3:]), timeout=60)
        # Recent days: live detection counts nothing older than its lateness bound.
        today = datetime.datetime.now(datetime.timezone.utc).date()
        recent = [str(today - datetime.timedelta(days=n)) for n in (4, 3, 2, 1)]
        days = recent[:3]
        publish(120, days)
        print(f"== multinode: 3 workers on one queue, {len(expected)} events in 120 files, "
              "each notified twice", flush=True)
        # Two workers stop at fail points of the commit protocol, one after the
        # other, each alone on the queue so that it surely gets there (with company
        # it may find every message taken); then all three run at once.
        for name, point in (("w1", "sqs.before_delete"), ("w0", "store.segments_uploaded")):
            w = Worker(name, config, FP_BIN, point)
            workers.append(w)
            if not w.reached.wait(timeout=90):
                raise SystemExit(f"{w.name} never reached {w.failpoint}: {''.join(w.lines)[-3000:]}")
            w.kill()
            workers.remove(w)
            log(f"{w.name} killed at {w.failpoint}")
        workers = [Worker("w0", config), Worker("w1", config), Worker("w2", config), detector]
        # More work arrives while workers die at random moments and come back.
        kills = 2
        for round_ in range(6):
            publish(20, recent)
            time.sleep(rng.uniform(0.5, 2.5))
            i = rng.randrange(3)
            workers[i].kill()
            kills += 1
            workers[i] = Worker(workers[i].name, config)
        log(f"{kills} SIGKILLs; {len(expected)} events expected; running to completion")
        reader = os.path.join(WORK, "reader")

        def stored():
            out = subprocess.run([BIN, "--data-dir", reader, "--config", config, "sql",
                                  'SELECT "eventID" AS id FROM events', "--format", "json",
                                  "--max-rows", "10000000"], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"sql on the reader node failed: {out.stderr[-2000:]}")
            return [r["id"] for r in json.loads(out.stdout)]

        def converged():
            a = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
            left = int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
            n = len(stored())
            return left == 0 and n >= len(expected), (n, left)
        wait_until("every event and an empty queue", converged, timeout=300, every=2)
        got = stored()
        assert len(got) == len(set(got)), f"{len(got) - len(set(got))} events stored twice"
        missing, extra = expected - set(got), set(got) - expected
        assert not missing and not extra, f"{len(missing)} lost, {len(extra)} unexpected"
        log(f"a fourth node finds exactly the {len(expected)} expected events, none twice")
        writers = [w.name for w in workers[:3] if w.segments_written() > 0]
        assert len(writers) >= 2, f"only {writers} wrote segments"
        log(f"workers that wrote segments: {writers}")
        listed = set(subprocess.run(["psql", pg_url, "-At", "-c", "SELECT path FROM auditwatch_segments"],
                                    capture_output=True, text=True, check=True).stdout.split())
        objects = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=LAKE, Prefix="prod/events/"):
            objects.update(o["Key"][len("prod/"):] for o in page.get("Contents", []))
        assert listed and listed <= objects, f"listed but not in the bucket: {sorted(listed - objects)[:3]}"
        # One set of users for every node: a key made on the reader node works on
        # each worker's API; the first admin was created once.
        made = subprocess.run([BIN, "--data-dir", reader, "--config", config, "users", "tokens", "create",
                               "admin", "--format", "json"], capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        token = json.loads(made.stdout)["token"]
        for w in workers[:3]:
            req = urllib.request.Request(f"http://127.0.0.1:{w.port}/api/v1/events",
                                         headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 200, (w.name, r.status)
        users = subprocess.run([BIN, "--data-dir", reader, "--config", config, "users", "list", "--format", "json"],
                               capture_output=True, text=True, check=True).stdout
        assert [u["name"] for u in json.loads(users)] == ["admin"], users
        stranger = os.path.join(WORK, "stranger")
        refused = subprocess.run([BIN, "--data-dir", stranger, "--config", config, "users", "list"],
                                 capture_output=True, text=True)
        assert refused.returncode != 0 and "auth.key" in refused.stderr, refused.stderr
        log("a key made on the reader node is accepted by all three workers; one admin; "
            "a node with its own auth.key is refused")
        # Live detection on the fifth node saw every planted DeleteTrail once.
        def detected():
            alerts = [a for a in api(detector.port, "/api/v1/alerts", token) if a["rule"] == "trail-deleted"]
            n = sum(a["count"] for a in alerts)
            return n == len(deleted), (n, len(deleted), "".join(detector.lines[-5:]))
        wait_until("every DeleteTrail counted once by the detecting node", detected, timeout=120, every=1)
        wait_until("the webhook", lambda: (any(h.get("alert", {}).get("rule") == "trail-deleted" for h in hooks),
                                           len(hooks)), timeout=60)
        second = subprocess.run([BIN, "--data-dir", os.path.join(WORK, "second-detector"), "--config",
                                 detector_config, "serve", "--listen", f"127.0.0.1:{free_port()}"],
                                capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, AUDITWATCH_ADMIN_PASSWORD="multinode-admin-password"))
        assert second.returncode != 0 and "already runs on another node" in second.stderr, second.stderr[-2000:]
        log(f"the detecting node counted all {len(deleted)} DeleteTrail events once, told the webhook; "
            "a second detecting node is refused")
        conflicts = sum("commit conflict" in line for w in workers for line in w.lines)
        log(f"{len(listed)} listed segments, all in s3://{LAKE}/prod/events/ ({len(objects)} objects: "
            f"{len(objects - listed)} left by killed workers, for a later sweep: older than 10 min); "
            f"commits retried after a conflict (running workers): {conflicts}")
    finally:
        for w in workers:
            w.stop()
        stop_pg()
        moto.terminate()


if __name__ == "__main__":
    main()
