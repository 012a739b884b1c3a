"""The lake's segments on S3 (issue 9, docs/SCALING.md), against moto server on
loopback:

- `[lake] url = "s3://BUCKET/prod"`: every segment the catalog lists is an object under
  `prod/events/day=…/`, uploaded before it was listed; compaction moves merged-away
  segments to `prod/.trash/`;
- a second machine with only a copy of the catalog and no segment files answers SQL
  and lookups exactly as the first (reading S3);
- the objects alone are the whole table (DuckDB over a download of `prod/events/`);
- a SIGKILL between the upload and the catalog commit leaves objects the next writer
  retires, and the table holds every event once;
- a bucket that does not exist fails the ingest with the location named, and nothing
  is committed.

    python lake_s3.py BIN FAILPOINTS_BIN WORK
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.request

import boto3

from harness import free_port, start_moto, wait_for

BIN, FP_BIN, WORK = sys.argv[1], sys.argv[2], os.path.join(sys.argv[3], "lake-s3")
REGION, BUCKET = "us-east-1", "auditwatch-lake"


def aw(data, *args, config=None, check=True, stdin=None):
    cmd = [BIN, "--data-dir", data] + (["--config", config] if config else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, input=stdin)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[3:6])} exited {r.returncode}: {r.stderr[-2000:]}")
    return r


def sql(data, text):
    return json.loads(aw(data, "sql", text, "--format", "json").stdout)


def listed(data):
    with sqlite3.connect(f"file:{data}/catalog.db?mode=ro", uri=True) as c:
        return sorted(r[0] for r in c.execute("SELECT path FROM segments"))


def objects(s3, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)


def copy_catalog(src, dest):
    """The catalog as another machine would get it (SQLite's online backup)."""
    os.makedirs(dest, exist_ok=True)
    with sqlite3.connect(f"{src}/catalog.db") as a, sqlite3.connect(f"{dest}/catalog.db") as b:
        a.backup(b)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    moto, url = start_moto(WORK, REGION)
    os.environ["AWS_ENDPOINT_URL_S3"] = url
    try:
        s3 = boto3.client("s3", endpoint_url=url, region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        config = os.path.join(WORK, "auditwatch.toml")
        with open(config, "w") as f:
            f.write(f'[lake]\nurl = "s3://{BUCKET}/prod"\n')
        a = os.path.join(WORK, "node-a")
        for seed in (21, 22):
            out = os.path.join(WORK, f"in-{seed}")
            aw(a, "generate", "--out", out, "--events", "3000", "--days", "3", "--seed", str(seed))
            aw(a, "ingest", out, config=config)
        segs = listed(a)
        keys = objects(s3, "prod/events/")
        assert keys == ["prod/" + p for p in segs], (keys, segs)
        print(f"S3: {len(keys)} segments under s3://{BUCKET}/prod/events/, as the catalog lists them")

        aw(a, "compact", config=config)
        merged = listed(a)
        assert objects(s3, "prod/events/") == ["prod/" + p for p in merged]
        trash = objects(s3, "prod/.trash/")
        assert len(trash) == len(segs), (trash, segs)
        print(f"compaction: {len(segs)} segments into {len(merged)}; {len(trash)} moved to prod/.trash/")

        # A second machine: the catalog only. The data directory knows its lake
        # location from the catalog, so no configuration is given.
        b = os.path.join(WORK, "node-b")
        copy_catalog(a, b)
        counts = 'SELECT count(*) AS n, count(DISTINCT "eventID") AS d FROM events'
        want = sql(a, counts)
        assert want[0]["n"] == 6000 and want[0]["d"] == 6000, want
        got = sql(b, counts)
        assert got == want, (got, want)
        top = 'SELECT "eventName", count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC, 1 LIMIT 5'
        assert sql(b, top) == sql(a, top)
        name = sql(a, top)[0]["eventName"]
        look = lambda d: json.loads(aw(d, "lookup", "--attribute", f"EventName={name}", "--max-results", "50",
                                       "--format", "json").stdout)
        assert [e["eventID"] for e in look(b)] == [e["eventID"] for e in look(a)]
        print(f"second machine (catalog only): {got[0]['n']} events, same top-5 and lookup as the first")
        r = aw(b, "compact", check=False)
        assert r.returncode != 0 and "another data directory writes it" in r.stderr, r.stderr[-1500:]
        assert objects(s3, "prod/events/") == ["prod/" + p for p in merged]
        print("second machine: writing refused (its catalog is a copy); the bucket unchanged")

        # A second new data directory pointed at the same prefix is refused before it
        # writes anything (it would retire the first one's segments as unlisted).
        f_dir = os.path.join(WORK, "node-f")
        r = aw(f_dir, "ingest", os.path.join(WORK, "in-21"), config=config, check=False)
        assert r.returncode != 0 and "already written by another data directory" in r.stderr, \
            r.stderr[-1500:]
        assert objects(s3, "prod/events/") == ["prod/" + p for p in merged]
        print("a second data directory on the same prefix: refused (conditional put), bucket unchanged")

        # A query node reading S3 under `serve`, keeping one local copy: lookups
        # (downloads on the lake's own runtime) and SQL (ranged reads on the server's
        # runtime) alternate over one pool of S3 connections, and each answers in time.
        d = os.path.join(WORK, "node-d")
        copy_catalog(a, d)
        small = os.path.join(WORK, "small-cache.toml")
        with open(small, "w") as f:
            f.write("[lake]\ncache_bytes = 1\n")
        aw(d, "users", "add", "reader", "--role", "analyst", "--password-stdin",
           stdin="reader-password-not-secret\n")
        token = json.loads(aw(d, "users", "tokens", "create", "reader", "--format", "json").stdout)["token"]
        port = free_port()
        server = subprocess.Popen([BIN, "--data-dir", d, "--config", small, "serve", "--listen",
                                   f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(WORK, "serve-d.log"), "wb"))
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(base + "/healthz", server, "serve")
            def api(path, body=None):
                req = urllib.request.Request(base + path, data=body, headers={
                    "authorization": f"Bearer {token}", "content-type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as r:
                    return json.load(r)
            want_ids = [e["eventID"] for e in look(a)]
            for _ in range(3):
                got_ids = [e["eventID"] for e in api(f"/api/v1/events?eventName={name}&limit=50")["events"]]
                assert got_ids == want_ids
                rows = api("/api/v1/sql", json.dumps({"sql": counts}).encode())["rows"]
                assert rows == [[6000, 6000]], rows
            print("query node under serve (one local copy): lookups and SQL alternate, answers equal")
        finally:
            server.terminate()
            server.wait(timeout=30)

        # A SIGKILL after the upload, before the catalog commit (a fail-point build):
        # the objects are in the bucket but listed nowhere. The next writer moves them
        # to the remote trash, the source is read again, and the table holds every
        # event once, in the catalog and in the bucket alike.
        crash_cfg = os.path.join(WORK, "crash.toml")
        with open(crash_cfg, "w") as f:
            f.write(f'[lake]\nurl = "s3://{BUCKET}/crash"\n')
        e = os.path.join(WORK, "node-e")
        env = dict(os.environ, AUDITWATCH_FAILPOINT="store.segments_uploaded")
        proc = subprocess.Popen([FP_BIN, "--data-dir", e, "--config", crash_cfg, "ingest",
                                 os.path.join(WORK, "in-21")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:
            if line.strip() == "failpoint reached: store.segments_uploaded":
                break
        else:
            raise SystemExit(f"the fail point was not reached (exit {proc.wait()})")
        proc.kill()
        proc.wait()
        orphans = objects(s3, "crash/events/")
        assert orphans and listed(e) == [], (orphans, listed(e))
        aw(e, "ingest", os.path.join(WORK, "in-21"))
        assert objects(s3, "crash/events/") == ["crash/" + p for p in listed(e)]
        moved = objects(s3, "crash/.trash/")
        assert len(moved) == len(orphans), (moved, orphans)
        assert sql(e, counts) == [{"n": 3000, "d": 3000}], sql(e, counts)
        print(f"SIGKILL between upload and commit: {len(orphans)} unlisted objects moved to "
              "crash/.trash/ by the next writer; 3000 events, each once")

        # The objects alone are the table.
        dl = os.path.join(WORK, "download")
        for key in objects(s3, "prod/events/"):
            dest = os.path.join(dl, key)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            s3.download_file(BUCKET, key, dest)
        import duckdb
        n, d = duckdb.connect().execute(f"SELECT count(*), count(DISTINCT eventID) FROM read_parquet("
                          f"'{dl}/prod/events/day=*/*.parquet', hive_partitioning = true)").fetchone()
        assert (n, d) == (6000, 6000), (n, d)
        print("DuckDB over the downloaded prod/events/: 6000 events, each once")

        # A bucket that does not exist: the ingest fails naming the location; nothing
        # is committed, so a retry with a good location starts clean.
        bad = os.path.join(WORK, "bad.toml")
        with open(bad, "w") as f:
            f.write('[lake]\nurl = "s3://no-such-bucket/prod"\n')
        c = os.path.join(WORK, "node-c")
        r = aw(c, "ingest", os.path.join(WORK, "in-21"), config=bad, check=False)
        assert r.returncode != 0, r.stdout
        assert "no-such-bucket" in r.stderr, r.stderr[-1500:]
        assert listed(c) == [], listed(c)
        print("missing bucket: ingest refused, naming it; nothing committed")
        print("lake on S3: passed")
    finally:
        moto.terminate()
        moto.wait(timeout=30)


if __name__ == "__main__":
    main()
