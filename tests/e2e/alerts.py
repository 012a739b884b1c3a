#!/usr/bin/env python3
"""The secret-read scenario end to end: CloudTrail files land in S3 (moto server on
127.0.0.1), the S3 source takes them, the `secret-read` alarm (a metric filter on
GetSecretValue of TopSecretInfo, Sum >= 1 per 300 s) goes to ALARM, and the alert
reaches a real SMTP server (aiosmtpd) — in plain text, over STARTTLS and over TLS
from the first byte, each TLS server with a certificate of a private CA given as the
channel's `ca_file` — a webhook receiver and an SNS topic (moto, delivered to an SQS
queue). Then: a fresh read is e-mailed within seconds, the alert
is acknowledged through the API, and a restart sends nothing twice.

Usage: alerts.py BIN WORKDIR
"""
import datetime as dt
import email
import logging
import gzip
import http.server
import http.cookiejar
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import boto3
from aiosmtpd.controller import Controller

from harness import free_port, start_moto, wait_for, wait_until

BIN, WORK = sys.argv[1], sys.argv[2]
REGION, ACCOUNT = "us-east-1", "111122223333"


# ---------------------------------------------------------------- receivers
class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        # The transport a message came over: TLS from the start, or after STARTTLS.
        self.encrypted = getattr(self, "encrypted", []) + [server.transport.get_extra_info("ssl_object") is not None]
        return "250 Message accepted for delivery"


def private_ca(folder):
    """A CA and a certificate it signed for 127.0.0.1 (rustls refuses a self-signed
    leaf as its own anchor, as it should)."""
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=folder)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
        "-subj", "/CN=Auditwatch e2e CA", "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "smtp.key", "-out", "smtp.csr")
    with open(os.path.join(folder, "ext.cnf"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "smtp.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-extfile", "ext.cnf", "-out", "smtp.pem")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.path.join(folder, "smtp.pem"), os.path.join(folder, "smtp.key"))
    return os.path.join(folder, "ca.pem"), ctx


# The channel without the CA is refused on purpose; aiosmtpd would print each refusal.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)
mailbox = Mailbox()
SMTP_PORT = free_port()
smtp = Controller(mailbox, hostname="127.0.0.1", port=SMTP_PORT)
smtp.start()
# STARTTLS required before anything is sent, and TLS from the first byte (SMTPS).
CA_PEM, TLS_CTX = private_ca(WORK)
starttls_box, wrapped_box = Mailbox(), Mailbox()
STARTTLS_PORT, WRAPPED_PORT = free_port(), free_port()
smtp_starttls = Controller(starttls_box, hostname="127.0.0.1", port=STARTTLS_PORT,
                           tls_context=TLS_CTX, require_starttls=True)
smtp_starttls.start()
smtp_wrapped = Controller(wrapped_box, hostname="127.0.0.1", port=WRAPPED_PORT, ssl_context=TLS_CTX)
smtp_wrapped.start()

hooks = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        hooks.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


HOOK_PORT = free_port()
hook_server = http.server.ThreadingHTTPServer(("127.0.0.1", HOOK_PORT), Hook)
threading.Thread(target=hook_server.serve_forever, daemon=True).start()

moto, MOTO = start_moto(WORK, REGION)
s3 = boto3.client("s3", endpoint_url=MOTO, region_name=REGION)
sns = boto3.client("sns", endpoint_url=MOTO, region_name=REGION)
sqs = boto3.client("sqs", endpoint_url=MOTO, region_name=REGION)
s3.create_bucket(Bucket="trail")
topic = sns.create_topic(Name="security-alerts")["TopicArn"]
queue = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

# ---------------------------------------------------------------- Auditwatch
config = os.path.join(WORK, "alerts.toml")
with open(config, "w") as f:
    f.write(f"""
[[sources]]
name = "trail"
kind = "s3"
bucket = "trail"
interval_seconds = 2
endpoint_url = "{MOTO}"

[detection]
packs = ["securityhub"]
max_lateness_hours = 48          # the generated day starts 25 h ago
base_url = "https://auditwatch.example.com"

[[alarms]]
name = "secret-read"
title = "Someone read TopSecretInfo"
filter_pattern = '{{ ($.eventName = "GetSecretValue") && ($.requestParameters.secretId = "TopSecretInfo*") }}'
statistic = "Sum"
threshold = 1
period = 300
treat_missing_data = "notBreaching"
level = "critical"
notify = ["mail", "mail-starttls", "mail-tls", "mail-untrusted", "hook", "topic"]

[[notify]]
name = "mail"
type = "smtp"
host = "127.0.0.1"
port = {SMTP_PORT}
tls = "none"
from = "auditwatch@example.com"
to = ["security@example.com"]

[[notify]]
name = "mail-starttls"
type = "smtp"
host = "127.0.0.1"
port = {STARTTLS_PORT}
tls = "starttls"
ca_file = "{CA_PEM}"
from = "auditwatch@example.com"
to = ["security@example.com"]

[[notify]]
name = "mail-tls"
type = "smtp"
host = "127.0.0.1"
port = {WRAPPED_PORT}
tls = "tls"
ca_file = "{CA_PEM}"
from = "auditwatch@example.com"
to = ["security@example.com"]

# The STARTTLS server again, without its CA: the certificate must be refused.
[[notify]]
name = "mail-untrusted"
type = "smtp"
host = "127.0.0.1"
port = {STARTTLS_PORT}
tls = "starttls"
from = "auditwatch@example.com"
to = ["security@example.com"]

[[notify]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{HOOK_PORT}/alerts"

[[notify]]
name = "topic"
type = "sns"
topic_arn = "{topic}"
endpoint_url = "{MOTO}"
""")
data = os.path.join(WORK, "d-alerts")
subprocess.run([BIN, "--data-dir", data, "users", "add", "admin", "--role", "admin", "--password-stdin"],
               input="alerts-admin-password\n", text=True, check=True, capture_output=True)
token = json.loads(subprocess.run([BIN, "--data-dir", data, "users", "tokens", "create", "admin", "--format", "json"],
                                  capture_output=True, text=True, check=True).stdout)["token"]
AW_PORT = free_port()
AW = f"http://127.0.0.1:{AW_PORT}"
log = open(os.path.join(WORK, "alerts-serve.log"), "w")


def start():
    p = subprocess.Popen([BIN, "--data-dir", data, "--config", config, "serve", "--listen", f"127.0.0.1:{AW_PORT}"],
                         stdout=log, stderr=log)
    wait_for(AW + "/healthz", p, "auditwatch serve")
    return p


def api(path, body=None):
    req = urllib.request.Request(AW + path, headers={"Authorization": f"Bearer {token}",
                                                     "Content-Type": "application/json"},
                                 data=None if body is None else json.dumps(body).encode(),
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def mails_for(rule):
    return [m for _, m in mailbox.messages if f"({rule})" in m["Subject"]]


# ---------------------------------------------------------------- a day of activity
# In the bucket before the server starts, so that its first pass takes the whole day
# (the alarm's alert counts the reads of the window it went to ALARM on).
gen = os.path.join(WORK, "alerts-gen")
# The planted burst of reads starts at the window's first second and lasts a few seconds:
# `end` on a 300 s boundary keeps it inside one alarm period, as the count below expects.
epoch = int(dt.datetime.now(dt.timezone.utc).timestamp())
end = dt.datetime.fromtimestamp(epoch - 3600 - epoch % 300, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
# `--file-span 300`: each file's events within five minutes of its start, as CloudTrail's
# files are, so the day's pack alarms fire in a few periods, not in every one.
subprocess.run([BIN, "generate", "--out", gen, "--events", "3000", "--days", "1", "--end", end, "--seed", "5",
                "--file-span", "300"],
               check=True, capture_output=True)
uploaded = 0
for root, _, files in os.walk(gen):
    for name in files:
        path = os.path.join(root, name)
        s3.upload_file(path, "trail", os.path.relpath(path, gen))
        uploaded += 1
reads = 0
for root, _, files in os.walk(gen):
    for name in files:
        with gzip.open(os.path.join(root, name)) as f:
            for r in json.load(f)["Records"]:
                if r["eventName"] == "GetSecretValue" and \
                        str((r.get("requestParameters") or {}).get("secretId", "")).startswith("TopSecretInfo"):
                    reads += 1
assert reads > 0, "the generator plants reads of TopSecretInfo"
print(f"  uploaded {uploaded} files; {reads} reads of TopSecretInfo among them")

server = start()
try:

    alerts = wait_until("the secret-read alert",
                        lambda: (lambda a: (any(x["rule"] == "secret-read" for x in a), a))(api("/api/v1/alerts")))
    secret = next(a for a in alerts if a["rule"] == "secret-read")
    assert secret["kind"] == "alarm" and secret["level"] == "critical", secret
    assert secret["accounts"], secret
    assert 0 < len(secret["events"]) <= reads, secret
    assert secret["count"] == reads, (secret["count"], reads)  # every read, though 20 are listed per minute
    event = api(f"/api/v1/events/{secret['events'][0]}")
    assert event["record"]["eventName"] == "GetSecretValue", event
    # The Security Hub pack found the planted root sign-in too.
    assert any(a["rule"] == "CloudWatch.1" for a in alerts), [a["rule"] for a in alerts]

    # E-mail, webhook and SNS, each with the alert's idempotency key.
    key = f"auditwatch-alert-{secret['id']}"
    mail = wait_until("the e-mail", lambda: (len(mails_for("secret-read")) >= 1, len(mailbox.messages)))
    m = mails_for("secret-read")[0]
    assert m["Subject"] == "[Auditwatch] ALARM: Someone read TopSecretInfo (secret-read)", m["Subject"]
    assert m["Message-ID"] == f"<{key}-mail@auditwatch>", m["Message-ID"]
    text = m.get_payload(decode=True).decode()
    assert f"https://auditwatch.example.com/alerts/{secret['id']}" in text, text
    assert f"https://auditwatch.example.com/events/{secret['events'][0]}" in text, text
    assert "Sum >= 1 for 1 of 1 periods of 300 s" in text, text
    # The same alert over STARTTLS and over TLS, verified against the private CA.
    for box, how in [(starttls_box, "STARTTLS"), (wrapped_box, "TLS")]:
        wait_until(f"the e-mail over {how}",
                   lambda: (any(f"({'secret-read'})" in x["Subject"] for _, x in box.messages), len(box.messages)))
        tm = next(x for _, x in box.messages if "(secret-read)" in x["Subject"])
        assert tm["Message-ID"] == m["Message-ID"].replace("-mail@", f"-mail-{'starttls' if how == 'STARTTLS' else 'tls'}@"), \
            (tm["Message-ID"], m["Message-ID"])
        assert all(box.encrypted), f"a message over {how} arrived unencrypted"
    assert not any(mailbox.encrypted), "the plain server saw TLS"  # the check tells them apart
    log.flush()
    refused = wait_until("the untrusted certificate's refusal", lambda: (lambda lines: (bool(lines), lines))(
        [x for x in open(log.name).read().splitlines() if "mail-untrusted" in x and "notification failed" in x]))
    assert re.search(r"certificate|UnknownIssuer", refused[0], re.I), refused[0]
    assert not any("-mail-untrusted@" in x["Message-ID"] for _, x in starttls_box.messages), "sent despite the certificate"
    print("  the alert was also e-mailed over STARTTLS and TLS, each server's certificate checked against the CA;")
    print(f"  without the CA the certificate was refused: {refused[0].split('notification failed: ')[-1][:120]}")
    wait_until("the webhook", lambda: (any(h[1]["alert"]["rule"] == "secret-read" for h in hooks), len(hooks)))
    headers, doc = next(h for h in hooks if h[1]["alert"]["rule"] == "secret-read")
    assert headers["idempotency-key"] == f"{key}-hook", headers
    assert doc["link"] == f"https://auditwatch.example.com/alerts/{secret['id']}", doc

    def sns_messages():
        got = []
        while True:
            r = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            if not r.get("Messages"):
                return got
            for msg in r["Messages"]:
                got.append(json.loads(msg["Body"]))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=msg["ReceiptHandle"])

    notes = []
    wait_until("the SNS message", lambda: (notes.extend(sns_messages()) or
                                           any("(secret-read)" in n.get("Subject", "") for n in notes), len(notes)))
    note = next(n for n in notes if "(secret-read)" in n.get("Subject", ""))
    assert note["MessageAttributes"]["idempotency_key"]["Value"] == f"{key}-topic", note

    alarm = api("/api/v1/alarms/secret-read")
    moves = [(t["from"], t["to"]) for t in alarm["history"]]
    assert ("OK", "ALARM") in moves or ("INSUFFICIENT_DATA", "ALARM") in moves, moves
    print(f"  secret-read: alert {secret['id']} with {len(secret['events'])} events; "
          f"{len(mailbox.messages)} e-mails, {len(hooks)} webhooks, {len(notes)} SNS messages in all")

    # ---------------------------------------------------------------- a fresh read
    before = len(mails_for("secret-read"))
    now = dt.datetime.now(dt.timezone.utc)
    record = {"eventVersion": "1.08", "eventID": "fresh-secret-read-0001", "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "eventType": "AwsApiCall", "eventSource": "secretsmanager.amazonaws.com", "eventName": "GetSecretValue",
              "awsRegion": REGION, "sourceIPAddress": "203.0.113.99", "recipientAccountId": ACCOUNT,
              "userIdentity": {"type": "IAMUser", "userName": "mallory", "accountId": ACCOUNT,
                               "arn": f"arn:aws:iam::{ACCOUNT}:user/mallory"},
              "requestParameters": {"secretId": "TopSecretInfo"}}
    key_name = (f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{now:%Y/%m/%d}/"
                f"{ACCOUNT}_CloudTrail_{REGION}_{now:%Y%m%dT%H%MZ}_fresh.json.gz")
    t0 = time.time()
    s3.put_object(Bucket="trail", Key=key_name, Body=gzip.compress(json.dumps({"Records": [record]}).encode()))
    wait_until("the fresh read's e-mail", lambda: (len(mails_for("secret-read")) > before, len(mailbox.messages)),
               timeout=90, every=0.2)
    latency = time.time() - t0
    fresh = next(a for a in api("/api/v1/alerts") if "fresh-secret-read-0001" in a["events"])
    print(f"  a fresh read was e-mailed {latency:.1f} s after its file landed in S3 (alert {fresh['id']})")
    assert latency < 60, latency

    # ---------------------------------------------------------------- acknowledge, restart
    acked = api(f"/api/v1/alerts/{fresh['id']}", {"status": "acknowledged"})
    assert acked["status"] == "acknowledged" and acked["status_by"] == "admin", acked
    try:
        api(f"/api/v1/alerts/{fresh['id']}", {"status": "snoozed"})
        raise AssertionError("an unknown status was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 400 and "one of open, acknowledged, resolved" in e.read().decode()
    sent = len(mailbox.messages)
    server.terminate()
    server.wait(timeout=30)
    server = start()
    time.sleep(12)
    assert len(mailbox.messages) == sent, f"{len(mailbox.messages) - sent} e-mails sent again after a restart"
    assert api(f"/api/v1/alerts/{fresh['id']}")["status"] == "acknowledged"
    print(f"  acknowledged; a restart sent nothing again ({sent} e-mails)")

    # ---------------------------------------------------------------- the contact form, e-mailed
    # As a person does it: sign in, open the form (its CSRF token), send.
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    browser.open(AW + "/login", data=urllib.parse.urlencode(
        {"name": "admin", "password": "alerts-admin-password"}).encode(), timeout=30).read()
    page = browser.open(AW + "/contact", timeout=30).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf": csrf, "contact": "carol@example.com",
                                   "message": "The dashboard is slow on Mondays."})
    with browser.open(AW + "/contact", data=form.encode(), timeout=30) as r:
        assert "Thank you" in r.read().decode()
    contact_mails = lambda: [m for _, m in mailbox.messages if "Contact form" in m["Subject"]]
    wait_until("the contact message's e-mail", lambda: (len(contact_mails()) == 1, len(mailbox.messages)),
               timeout=30, every=0.2)
    m = contact_mails()[0]
    body = m.get_payload(decode=True).decode()
    assert "The dashboard is slow on Mondays." in body and m["Reply-To"] == "carol@example.com", (body, dict(m))
    assert m["Subject"] == "[Auditwatch] Contact form: a message from admin", m["Subject"]
    assert m["Message-ID"].startswith("<auditwatch-feedback-"), m["Message-ID"]
    time.sleep(6)
    assert len(contact_mails()) == 1, "the contact message was e-mailed twice"
    print("  a contact-form message was e-mailed to the SMTP channel once, with Reply-To")
finally:
    server.terminate()
    server.wait(timeout=30)
    moto.terminate()
    smtp.stop()
    smtp_starttls.stop()
    smtp_wrapped.stop()
    hook_server.shutdown()
    log.close()
print("alerts: ok")
