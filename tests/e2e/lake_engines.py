"""The lake read as is by other engines (issue 9, docs/SCALING.md): DuckDB, Spark in
local mode and Spark on a standalone cluster of two workers on loopback read
`<data-dir>/lake/events/` (Hive-style `day=` folders, standard Parquet types) and must
give the answers Auditwatch gives: the benchmark's seven queries (scripts/
cloudtrail_queries.py) and checks of what an engine must understand in the layout —
every event exactly once, struct fields, the list of resources, JSON text, booleans,
and the `day=` folders agreeing with each event's time.

    python lake_engines.py BIN WORK

Three ingests with a compaction after the second, so that a day holds several files
and retired files sit in `lake/.trash/`, where engines must not look. Prints a table of answers and seconds per engine; exits 1 on any difference.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
sys.path.insert(0, HERE)
from cloudtrail_queries import Params, answer, queries, spark_sql  # noqa: E402
from harness import free_port, wait_until  # noqa: E402

# Each: name, what it checks, SQL per engine ("ours", "duckdb", "spark"; "*" for any
# engine not named; Spark's is translated to backticks unless given).
LAYOUT_CHECKS = [
    ("L1", "every event exactly once",
     {"*": 'SELECT count(*) AS n, count(DISTINCT "eventID") AS ids FROM events'}),
    ("L2", "a struct field (userIdentity.type)",
     {"*": 'SELECT "userIdentity"."type" AS t, count(*) AS n FROM events '
           'GROUP BY 1 ORDER BY n DESC, t NULLS LAST'}),
    ("L3", "resources, a list of structs",
     {"ours": 'SELECT count("resources") AS events, sum(array_length("resources")) AS resources FROM events',
      "duckdb": 'SELECT count("resources") AS events, sum(len("resources")) AS resources FROM events',
      "spark": 'SELECT count(`resources`) AS events, sum(size(`resources`)) AS resources FROM events'}),
    ("L4", "JSON text (requestParameters.bucketName)",
     {"ours": "SELECT json_get_str(\"requestParameters\", 'bucketName') AS b, count(*) AS n FROM events "
              "WHERE json_get_str(\"requestParameters\", 'bucketName') IS NOT NULL "
              "GROUP BY 1 ORDER BY n DESC, b LIMIT 10",
      "duckdb": "SELECT \"requestParameters\"->>'bucketName' AS b, count(*) AS n FROM events "
                "WHERE \"requestParameters\"->>'bucketName' IS NOT NULL "
                "GROUP BY 1 ORDER BY n DESC, b LIMIT 10",
      "spark": "SELECT get_json_object(`requestParameters`, '$.bucketName') AS b, count(*) AS n "
               "FROM events WHERE get_json_object(`requestParameters`, '$.bucketName') IS NOT NULL "
               "GROUP BY 1 ORDER BY n DESC, b LIMIT 10"}),
    ("L5", "booleans (readOnly)",
     {"*": 'SELECT "readOnly" AS r, count(*) AS n FROM events GROUP BY 1 ORDER BY r NULLS FIRST'}),
    ("L6", "day= folders agree with eventTime (events per day)",
     {"ours": 'SELECT CAST(CAST("eventTime" AS DATE) AS VARCHAR) AS d, count(*) AS n FROM events '
              'GROUP BY 1 ORDER BY 1',
      "duckdb": 'SELECT CAST("day" AS VARCHAR) AS d, count(*) AS n FROM events '
                'WHERE CAST("eventTime" AS DATE) = "day" GROUP BY 1 ORDER BY 1',
      "spark": 'SELECT CAST(`day` AS STRING) AS d, count(*) AS n FROM events '
               'WHERE CAST(`eventTime` AS DATE) = `day` GROUP BY 1 ORDER BY 1'}),
]


def sql_for(engine, per_engine):
    if engine in per_engine:
        return per_engine[engine]
    text = per_engine["*"]
    return spark_sql(text) if engine == "spark" else text


class Ours:
    name = "auditwatch"
    engine = "ours"

    def __init__(self, bin_path, data):
        self.bin, self.data = bin_path, data

    def query(self, sql):
        out = subprocess.run([self.bin, "--data-dir", self.data, "sql", sql, "--format", "json"],
                             check=True, capture_output=True).stdout
        return json.loads(out or b"[]")


class Duck:
    name = "DuckDB (Parquet files)"
    engine = "duckdb"

    def __init__(self, lake):
        import duckdb
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        files = os.path.join(lake, "events", "day=*", "*.parquet").replace("'", "''")
        self.con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{files}', "
                         "hive_partitioning = true, hive_types = {'day': DATE})")

    def query(self, sql):
        cur = self.con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


class Spark:
    engine = "spark"

    def __init__(self, name, lake, master, work, ddl=None):
        from pyspark.sql import SparkSession
        self.name = name
        builder = (SparkSession.builder.appName("auditwatch-lake-check").master(master)
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.session.timeZone", "UTC")
                   .config("spark.sql.legacy.sizeOfNull", "false")
                   .config("spark.local.dir", os.path.join(work, "spark-local"))
                   .config("spark.sql.shuffle.partitions", "4"))
        self.spark = builder.getOrCreate()
        self.spark.sparkContext.setLogLevel("ERROR")
        if ddl:
            # The table declared by docs/SCALING.md's DDL, with its types.
            for statement in ddl:
                self.spark.sql(statement.replace("'LAKE/", "'" + lake + "/"))
        else:
            # The lake folder as is: Spark discovers `day` from the folder names and
            # skips dot-prefixed entries (`.staging`, `.trash`) by its own rules.
            self.spark.read.parquet(os.path.join(lake, "events")).createOrReplaceTempView("events")

    def executors(self):
        """Executors registered with the driver (the driver itself not counted)."""
        return self.spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1

    def query(self, sql):
        return [r.asDict() for r in self.spark.sql(sql).collect()]

    def stop(self):
        self.spark.stop()


class Cluster:
    """A Spark standalone master and two one-core workers on loopback."""

    def __init__(self, work):
        import pyspark
        home = os.path.dirname(pyspark.__file__)
        spark_class = os.path.join(home, "bin", "spark-class")
        self.port, ui = free_port(), free_port()
        env = dict(os.environ, SPARK_HOME=home, SPARK_LOCAL_IP="127.0.0.1",
                   SPARK_LOG_DIR=os.path.join(work, "spark-logs"),
                   SPARK_WORKER_DIR=os.path.join(work, "spark-workers"))
        self.url = f"spark://127.0.0.1:{self.port}"
        # No REST submission server (it would take the fixed port 6066).
        props = os.path.join(work, "spark-master.properties")
        with open(props, "w") as f:
            f.write("spark.master.rest.enabled false\n")
        self.logs = []
        self.procs = []
        self.ui = f"http://127.0.0.1:{ui}"
        self.start(env, work, "master", [spark_class, "org.apache.spark.deploy.master.Master",
                                         "--host", "127.0.0.1", "--port", str(self.port),
                                         "--webui-port", str(ui), "--properties-file", props])
        for n in (1, 2):
            self.start(env, work, f"worker{n}", [
                spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                "--cores", "1", "--memory", "1g", "--webui-port", str(free_port()),
                "--work-dir", os.path.join(work, f"spark-worker{n}"), self.url])
        wait_until("two Spark workers alive", self.alive_workers, timeout=180)

    def start(self, env, work, name, cmd):
        log = open(os.path.join(work, f"spark-{name}.log"), "wb")
        self.logs.append(log)
        self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))

    def alive_workers(self):
        for p in self.procs:
            if p.poll() is not None:
                raise SystemExit(f"a Spark process exited ({p.args[1]}); see its log")
        try:
            with urllib.request.urlopen(self.ui + "/json/", timeout=2) as r:
                state = json.load(r)
        except OSError as e:
            return False, str(e)
        alive = [w["id"] for w in state.get("workers", []) if w.get("state") == "ALIVE"]
        return len(alive) == 2, alive

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in self.logs:
            log.close()


def documented_spark_ddl():
    """The Spark SQL statements between the `spark-ddl` markers of docs/SCALING.md."""
    path = os.path.join(HERE, "..", "..", "docs", "SCALING.md")
    with open(path) as f:
        doc = f.read()
    block = doc.split("<!-- spark-ddl begin -->", 1)[1].split("<!-- spark-ddl end -->", 1)[0]
    block = block.replace("```sql", "").replace("```", "")
    statements = [s.strip() for s in block.split(";") if s.strip()]
    if not statements or "CREATE TABLE events" not in statements[0]:
        raise SystemExit(f"{path}: no Spark DDL between the spark-ddl markers")
    return statements


def ingest(bin_path, work, data):
    """Three generated batches over the same three days: two ingested and compacted (their
    files retired to `.trash/`), the third ingested beside the compacted files."""
    for seed in (11, 12, 13):
        out = os.path.join(work, f"lake-in-{seed}")
        subprocess.run([bin_path, "generate", "--out", out, "--events", "4000", "--days", "3",
                        "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([bin_path, "--data-dir", data, "ingest", out], check=True,
                       stdout=subprocess.DEVNULL)
        if seed == 12:
            subprocess.run([bin_path, "--data-dir", data, "compact"], check=True,
                           stdout=subprocess.DEVNULL)


def main():
    bin_path, work = sys.argv[1], os.path.join(sys.argv[2], "lake-engines")
    os.makedirs(work, exist_ok=True)
    os.environ["TZ"] = "UTC"  # PySpark turns timestamps into local datetimes
    time.tzset()
    data = os.path.join(work, "data")
    ingest(bin_path, work, data)
    lake = os.path.join(data, "lake")
    retired = os.listdir(os.path.join(lake, ".trash")) if os.path.isdir(os.path.join(lake, ".trash")) else []
    files = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(lake, "events")) for f in fs]
    print(f"lake: {len(files)} Parquet files in day= folders, {len(retired)} retired in .trash/")

    duck = Duck(lake)
    params = Params(duck.con)
    print("query parameters:", params.describe())
    work_queries = [(name, what, {"*": sql}, lookup is not None)
                    for name, what, sql, lookup in queries(params)]
    work_queries += [(name, what, per, False) for name, what, per in LAYOUT_CHECKS]

    cluster = Cluster(work)
    try:
        # One SparkSession per process at a time: engine by engine, each Spark session
        # stopped before the next starts.
        makers = [lambda: Ours(bin_path, data), lambda: duck,
                  lambda: Spark("Spark local[2]", lake, "local[2]", work),
                  lambda: Spark("Spark standalone, 2 workers", lake, cluster.url, work,
                                ddl=documented_spark_ddl())]
        names, timings, answers, failures = [], {}, {}, []
        for make in makers:
            engine = make()
            names.append(engine.name)
            if isinstance(engine, Spark) and engine.name.startswith("Spark standalone"):
                wait_until("two executors registered with the driver",
                           lambda: (engine.executors() == 2, engine.executors()), timeout=120)
            for name, what, per, lookup in work_queries:
                start = time.perf_counter()
                rows = engine.query(sql_for(engine.engine, per))
                timings[(engine.name, name)] = time.perf_counter() - start
                if lookup:
                    rows = [(r["eventID"], r["eventTime"]) for r in rows]
                answers[(engine.name, name)] = answer(name, rows)
            if isinstance(engine, Spark):
                engine.stop()
            print(f"{engine.name}: {len(work_queries)} queries answered", flush=True)
        print("\n| query | " + " | ".join(f"{n} s" for n in names) + " | same answers |")
        print("|---|" + "---|" * len(names) + "---|")
        for name, what, _, _ in work_queries:
            base = answers[(names[0], name)]
            wrong = [n for n in names[1:] if answers[(n, name)] != base]
            if not (base["times"] if isinstance(base, dict) else base):
                wrong.append("(no rows: the check proves nothing)")
            print(f"| {name} {what} | " + " | ".join(f"{timings[(n, name)]:.2f}" for n in names)
                  + f" | {'yes' if not wrong else 'NO: ' + ', '.join(wrong)} |")
            for n in wrong:
                if n in names:
                    failures.append(f"{name}: {n} answered {str(answers[(n, name)])[:400]}\n"
                                    f"  auditwatch answered {str(base)[:400]}")
                else:
                    failures.append(f"{name}: {n}")
        if failures:
            sys.exit("the engines disagree:\n" + "\n".join(failures))
        print("\nall engines give Auditwatch's answers")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
