#!/usr/bin/env python3
"""Log-file integrity end to end: `auditwatch verify` and `aws cloudtrail validate-logs`
(awscli, unchanged) on the same digest chains in a real S3 emulator (moto server on
127.0.0.1), with Auditwatch's AWS-compatible endpoint answering ListPublicKeys for both.

Usage: integrity.py BIN WORKDIR TEST_KEY.der

The chains are signed here with the test key of crates/auditwatch-integrity (PKCS #1,
made for these tests) using the `rsa` package awscli itself uses. Each tamper class
gets its own bucket; the verdicts of both tools are printed side by side and checked:
Auditwatch must fail exactly the tampered chains, and agree with aws-cli wherever
aws-cli detects the change (the cases it does not are listed in docs/INTEGRITY.md).
"""
import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import boto3
import rsa

from harness import free_port, start_moto, wait_for

BIN, WORK, KEY = sys.argv[1], sys.argv[2], sys.argv[3]
ACCOUNT, REGION, TRAIL = "111122223333", "us-east-1", "audit-trail"
ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{TRAIL}"
T0 = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
HOURS = 24

with open(KEY, "rb") as f:
    PRIVATE = rsa.PrivateKey.load_pkcs1(f.read(), "DER")
PUBLIC_DER = rsa.PublicKey(PRIVATE.n, PRIVATE.e).save_pkcs1("DER")
FINGERPRINT = hashlib.md5(PUBLIC_DER).hexdigest()


# ---------------------------------------------------------------- moto and Auditwatch
moto, MOTO = start_moto(WORK, REGION)
s3 = boto3.client("s3", endpoint_url=MOTO, region_name=REGION)

keys_file = os.path.join(WORK, "integrity-keys.json")
with open(keys_file, "w") as f:
    json.dump({"PublicKeyList": [{"Value": base64.b64encode(PUBLIC_DER).decode(), "Fingerprint": FINGERPRINT,
                                  "ValidityStartTime": int(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp()),
                                  "ValidityEndTime": int(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc).timestamp())}]}, f)
config = os.path.join(WORK, "integrity.toml")
with open(config, "w") as f:
    f.write(f'[integrity]\npublic_keys = "{keys_file}"\n')
data = os.path.join(WORK, "d-integrity")
subprocess.run([BIN, "--data-dir", data, "users", "add", "admin", "--role", "admin", "--password-stdin"],
               input="integrity-admin-password\n", text=True, check=True, capture_output=True)
key = json.loads(subprocess.run([BIN, "--data-dir", data, "users", "tokens", "create", "admin", "--aws",
                                 "--format", "json"], capture_output=True, text=True, check=True).stdout)
AW_PORT = free_port()
server = subprocess.Popen([BIN, "--data-dir", data, "--config", config, "serve", "--listen", f"127.0.0.1:{AW_PORT}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
AW = f"http://127.0.0.1:{AW_PORT}"
wait_for(AW + "/healthz", server, "auditwatch serve")
# Both tools: S3 at moto, CloudTrail (ListPublicKeys) at Auditwatch, Auditwatch-issued keys
# (moto accepts any).
CLIENT_ENV = dict(os.environ, AWS_ACCESS_KEY_ID=key["accessKeyId"], AWS_SECRET_ACCESS_KEY=key["secretAccessKey"],
                  AWS_ENDPOINT_URL_S3=MOTO, AWS_ENDPOINT_URL_CLOUDTRAIL=AW)


# ---------------------------------------------------------------- chains
def stamp(t, fmt):
    return t.strftime(fmt)


def digest_key(end, suffix="", account=ACCOUNT):
    return (f"AWSLogs/{account}/CloudTrail-Digest/{REGION}/{stamp(end, '%Y/%m/%d')}/"
            f"{account}_CloudTrail-Digest_{REGION}_{TRAIL}_{REGION}_{stamp(end, '%Y%m%dT%H%M%SZ')}{suffix}.json.gz")


def sign(digest, bucket, key, inflated):
    message = "\n".join([digest["digestEndTime"], f"{bucket}/{key}", hashlib.sha256(inflated).hexdigest(),
                         digest["previousDigestSignature"] or "null"])
    return rsa.sign(message.encode(), PRIVATE, "SHA-256").hex()


def build(bucket, hours=range(HOURS), previous=None, tamper_log=None, account=ACCOUNT):
    """A chain of hourly digests (one log file each), continuing from `previous` (key,
    hash, signature) when given; returns ({hour: (digest key, log key)}, last link).
    `tamper_log`: an hour whose log file is replaced after its digest was written."""
    if previous is None:
        s3.create_bucket(Bucket=bucket)
    out = {}
    for h in hours:
        end = T0 + dt.timedelta(hours=h + 1)
        log_key = (f"AWSLogs/{account}/CloudTrail/{REGION}/{stamp(end, '%Y/%m/%d')}/"
                   f"{account}_CloudTrail_{REGION}_{stamp(end - dt.timedelta(minutes=10), '%Y%m%dT%H%MZ')}_h{h}.json.gz")
        raw = json.dumps({"Records": [{"eventVersion": "1.08", "eventID": f"integrity-{bucket}-{h}",
                                       "eventTime": stamp(end - dt.timedelta(minutes=15), "%Y-%m-%dT%H:%M:%SZ"),
                                       "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                                       "awsRegion": REGION, "recipientAccountId": account}]}).encode()
        s3.put_object(Bucket=bucket, Key=log_key, Body=gzip.compress(raw))
        key = digest_key(end, account=account)
        digest = {
            "awsAccountId": account,
            "digestStartTime": stamp(end - dt.timedelta(hours=1), "%Y-%m-%dT%H:%M:%SZ"),
            "digestEndTime": stamp(end, "%Y-%m-%dT%H:%M:%SZ"),
            "digestS3Bucket": bucket, "digestS3Object": key,
            "digestPublicKeyFingerprint": FINGERPRINT, "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": None, "oldestEventTime": None,
            "previousDigestS3Bucket": bucket if previous else None,
            "previousDigestS3Object": previous[0] if previous else None,
            "previousDigestHashValue": previous[1] if previous else None,
            "previousDigestHashAlgorithm": "SHA-256" if previous else None,
            "previousDigestSignature": previous[2] if previous else None,
            "logFiles": [{"s3Bucket": bucket, "s3Object": log_key, "hashValue": hashlib.sha256(raw).hexdigest(),
                          "hashAlgorithm": "SHA-256"}],
        }
        inflated = json.dumps(digest).encode()
        signature = sign(digest, bucket, key, inflated)
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(inflated),
                      Metadata={"signature": signature, "signature-algorithm": "SHA256withRSA"})
        previous = (key, hashlib.sha256(inflated).hexdigest(), signature)
        out[h] = (key, log_key)
        if h == tamper_log:
            s3.put_object(Bucket=bucket, Key=log_key, Body=gzip.compress(b'{"Records": []}'))
    return out, previous


def get(bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def put_same_metadata(bucket, key, body):
    head = s3.head_object(Bucket=bucket, Key=key)
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=head.get("Metadata", {}))


def modify_log(b, files):
    s3.put_object(Bucket=b, Key=files[10][1], Body=gzip.compress(b'{"Records": []}'))


def delete_log(b, files):
    s3.delete_object(Bucket=b, Key=files[11][1])


def trailing_gzip_member(b, files):
    body = get(b, files[12][1]) + gzip.compress(b'{"Records": [{"eventID": "forged"}]}')
    s3.put_object(Bucket=b, Key=files[12][1], Body=body)


def modify_digest(b, files):
    d = json.loads(gzip.decompress(get(b, files[13][0])))
    d["logFiles"] = []
    put_same_metadata(b, files[13][0], gzip.compress(json.dumps(d).encode()))


def delete_digest(b, files):
    s3.delete_object(Bucket=b, Key=files[14][0])


def delete_two_digests(b, files):
    s3.delete_object(Bucket=b, Key=files[14][0])
    s3.delete_object(Bucket=b, Key=files[15][0])


def move_digest(b, files):
    body, head = get(b, files[16][0]), s3.head_object(Bucket=b, Key=files[16][0])
    s3.delete_object(Bucket=b, Key=files[16][0])
    moved = files[16][0].replace("T170000Z", "T170100Z")
    s3.put_object(Bucket=b, Key=moved, Body=body, Metadata=head["Metadata"])


def wrong_key(b, files):
    other = rsa.newkeys(2048)[1]
    d = json.loads(gzip.decompress(get(b, files[23][0])))
    inflated = json.dumps(d).encode()
    message = "\n".join([d["digestEndTime"], f"{b}/{files[23][0]}", hashlib.sha256(inflated).hexdigest(),
                         d["previousDigestSignature"] or "null"])
    s3.put_object(Bucket=b, Key=files[23][0], Body=gzip.compress(inflated),
                  Metadata={"signature": rsa.sign(message.encode(), other, "SHA-256").hex(),
                            "signature-algorithm": "SHA256withRSA"})


def missing_signature(b, files):
    s3.put_object(Bucket=b, Key=files[23][0], Body=get(b, files[23][0]))


SCENARIOS = [
    ("clean", None, False),
    ("modified-log", modify_log, True),
    ("deleted-log", delete_log, True),
    ("log-with-a-second-gzip-member", trailing_gzip_member, True),
    ("modified-digest", modify_digest, True),
    ("deleted-digest", delete_digest, True),
    ("two-deleted-digests", delete_two_digests, True),
    ("moved-digest", move_digest, True),
    ("signed-with-another-key", wrong_key, True),
    ("no-signature-metadata", missing_signature, True),
]


def auditwatch(bucket):
    p = subprocess.run([BIN, "verify", f"s3://{bucket}", "--trail-arn", ARN, "--start", "2024-03-01T00:00:00Z",
                        "--end", "2024-03-02T01:00:00Z"], capture_output=True, text=True, env=CLIENT_ENV)
    if p.returncode not in (0, 1):
        raise SystemExit(f"auditwatch verify failed to run: {p.stderr}")
    return p.returncode, p.stdout + p.stderr


def awscli(bucket):
    p = subprocess.run(["aws", "cloudtrail", "validate-logs", "--trail-arn", ARN, "--s3-bucket", bucket,
                        "--start-time", "2024-03-01T00:00:00Z", "--end-time", "2024-03-02T01:00:00Z",
                        "--endpoint-url", AW, "--region", REGION], capture_output=True, text=True, env=CLIENT_ENV)
    return p.returncode, p.stdout + p.stderr


try:
    rows, problems = [], []
    for name, tamper, tampered in SCENARIOS:
        bucket = f"integrity-{name}"
        files, _ = build(bucket)
        if tamper:
            tamper(bucket, files)
        ours, our_text = auditwatch(bucket)
        theirs, their_text = awscli(bucket)
        rows.append((name, "fails" if ours else "passes", "fails" if theirs else "passes"))
        if bool(ours) != tampered:
            problems.append(f"{name}: auditwatch {'failed' if ours else 'passed'}:\n{our_text}")
        if theirs and not ours:
            problems.append(f"{name}: aws-cli found a problem auditwatch did not:\n{their_text}\n---\n{our_text}")
        if name == "clean" and theirs:
            problems.append(f"clean chain: aws-cli failed (setup problem?):\n{their_text}")
        if name == "clean":
            assert f"{HOURS}/{HOURS} digest files valid" in our_text, our_text
    print(f"   {'scenario':32} {'auditwatch verify':18} aws cloudtrail validate-logs")
    for name, ours, theirs in rows:
        print(f"   {name:32} {ours:18} {theirs}")
    if problems:
        raise SystemExit("\n\n".join(problems))
    # A local copy (what `aws s3 sync` makes: no metadata), checked with the signatures
    # saved from S3 by --export-signatures.
    signatures = os.path.join(WORK, "signatures.json")
    p = subprocess.run([BIN, "verify", "s3://integrity-clean", "--trail-arn", ARN, "--start", "2024-03-01T00:00:00Z",
                        "--end", "2024-03-02T01:00:00Z", "--export-signatures", signatures],
                       capture_output=True, text=True, env=CLIENT_ENV)
    assert p.returncode == 0 and f"saved {HOURS} signatures" in p.stderr, p.stdout + p.stderr
    copy = os.path.join(WORK, "integrity-copy")
    for o in s3.list_objects_v2(Bucket="integrity-clean", MaxKeys=1000)["Contents"]:
        path = os.path.join(copy, o["Key"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(get("integrity-clean", o["Key"]))
    local = lambda *extra: subprocess.run(  # noqa: E731
        [BIN, "verify", copy, "--trail-arn", ARN, "--start", "2024-03-01T00:00:00Z", "--end",
         "2024-03-02T01:00:00Z", "--public-keys", keys_file, *extra], capture_output=True, text=True, env=CLIENT_ENV)
    p = local()
    assert p.returncode == 0 and f"{HOURS - 1}/{HOURS} digest files valid, 1 not verified" in p.stdout, p.stdout
    p = local("--signatures", signatures)
    assert p.returncode == 0 and f"{HOURS}/{HOURS} digest files valid\n{HOURS}/{HOURS} log files valid" in p.stdout, p.stdout
    print(f"   local copy: {HOURS - 1}/{HOURS} digests without the signatures file, {HOURS}/{HOURS} with the one "
          "--export-signatures saved", flush=True)

    # Stored in the data directory, the results reach the Integrity API.
    p = subprocess.run([BIN, "--data-dir", data, "verify", "s3://integrity-deleted-digest", "--trail-arn", ARN,
                        "--start", "2024-03-01T00:00:00Z", "--end", "2024-03-02T01:00:00Z"],
                       capture_output=True, text=True, env=CLIENT_ENV)
    assert p.returncode == 1 and "results stored in" in p.stderr, p.stderr
    token = json.loads(subprocess.run([BIN, "--data-dir", data, "users", "tokens", "create", "admin", "--format",
                                       "json"], capture_output=True, text=True, check=True).stdout)["token"]
    req = urllib.request.Request(AW + "/api/v1/integrity", headers={"Authorization": f"Bearer {token}"})
    report = json.loads(urllib.request.urlopen(req, timeout=30).read())
    chain = report["chains"][0]
    assert (chain["account"], chain["region"]) == (ACCOUNT, REGION), report
    assert chain["digests"] == {"valid": HOURS - 1, "failed": 1, "unverified": 0}, chain
    assert chain["logs"]["valid"] == HOURS - 1 and len(report["gaps"]) == 1, report
    assert any(p["verdict"] == "not_found" for p in report["problems"]), report["problems"]
    print(f"   stored and served by /api/v1/integrity: {chain['digests']}, 1 gap", flush=True)

    # An S3 source and an SQS source that verify digests as they arrive.
    _, link = build("integrity-live", range(12))
    OTHER = "444455556666"
    sqs = boto3.client("sqs", endpoint_url=MOTO, region_name=REGION)
    queue = sqs.create_queue(QueueName="integrity-notes")["QueueUrl"]
    build("integrity-sqs", range(6), account=OTHER)
    for o in s3.list_objects_v2(Bucket="integrity-sqs")["Contents"]:
        note = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
                             "eventName": "ObjectCreated:Put",
                             "s3": {"bucket": {"name": "integrity-sqs"},
                                    "object": {"key": urllib.parse.quote(o["Key"]), "size": o["Size"],
                                               "eTag": o["ETag"].strip('"')}}}]}
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(note))
    live_data = os.path.join(WORK, "d-integrity-live")
    subprocess.run([BIN, "--data-dir", live_data, "users", "add", "admin", "--role", "admin", "--password-stdin"],
                   input="integrity-admin-password\n", text=True, check=True, capture_output=True)
    live_token = json.loads(subprocess.run([BIN, "--data-dir", live_data, "users", "tokens", "create", "admin",
                                            "--format", "json"], capture_output=True, text=True, check=True).stdout)["token"]
    live_config = os.path.join(WORK, "integrity-live.toml")
    with open(live_config, "w") as f:
        f.write(f'[integrity]\npublic_keys = "{keys_file}"\n\n[[sources]]\nname = "trail"\nkind = "s3"\n'
                f'bucket = "integrity-live"\nendpoint_url = "{MOTO}"\nverify_digests = true\ninterval_seconds = 2\n'
                f'\n[[sources]]\nname = "notes"\nkind = "sqs"\nqueue_url = "{queue}"\nendpoint_url = "{MOTO}"\n'
                f'verify_digests = true\nwait_seconds = 1\nvisibility_timeout_seconds = 30\n')
    live_port = free_port()
    live = subprocess.Popen([BIN, "--data-dir", live_data, "--config", live_config, "serve", "--listen",
                             f"127.0.0.1:{live_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{live_port}/healthz", live, "the server with a verifying source")

        def integrity():
            req = urllib.request.Request(f"http://127.0.0.1:{live_port}/api/v1/integrity",
                                         headers={"Authorization": f"Bearer {live_token}"})
            return json.loads(urllib.request.urlopen(req, timeout=30).read())

        def wait_chain(digests, log_failures):
            for _ in range(300):
                r = integrity()
                if r["chains"] and r["chains"][0]["digests"]["valid"] == digests \
                        and r["chains"][0]["logs"]["failed"] == log_failures:
                    return r
                time.sleep(0.5)
            raise SystemExit(f"the source did not verify {digests} digests: {integrity()}")

        wait_chain(12, 0)
        # Twelve more hours arrive, one log file changed after its digest was signed.
        more, _ = build("integrity-live", range(12, 24), previous=link, tamper_log=15)
        r = wait_chain(24, 1)
        bad = [p for p in r["problems"] if p["kind"] == "log"]
        assert bad and bad[0]["location"].endswith(more[15][1]) and "modified" in bad[0]["reason"], r["problems"]
        print("   a source with verify_digests: 12 digests verified on arrival, then 12 more with the changed "
              "log file caught", flush=True)
        for _ in range(300):
            chains = [c for c in integrity()["chains"] if c["account"] == OTHER]
            if chains and chains[0]["digests"]["valid"] == 6:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"the SQS source did not verify the 6 notified digests: {integrity()}")
        assert chains[0]["logs"] == {"valid": 6, "failed": 0, "unverified": 0}, chains
        print("   an SQS source with verify_digests: the 6 digests it was notified of verified, with their logs",
              flush=True)
    finally:
        live.terminate()
        live.wait()
    print("== integrity: all passed", flush=True)
finally:
    server.terminate()
    server.wait()
    moto.terminate()
    moto.wait()
