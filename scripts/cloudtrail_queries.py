"""The benchmark's queries over the `events` table (docs/PERFORMANCE.md, docs/SCALING.md):
their parameters, chosen from the data, their SQL (one text for Auditwatch, DuckDB and,
with identifiers in backticks, Spark), and comparable answers. Shared by
scripts/bench-duckdb and tests/e2e/lake_engines.py so that every engine is asked the
same questions."""
from datetime import timedelta


class Params:
    """What the queries ask about, chosen from the data so every size has answers."""

    def __init__(self, con):
        last = con.execute('SELECT max("eventTime") FROM events').fetchone()[0].date()
        self.last_day = last
        self.day = last - timedelta(days=1)
        self.two_days = (last - timedelta(days=2), last - timedelta(days=1))
        self.week_start = last - timedelta(days=6)
        users = [r[0] for r in con.execute(
            'SELECT "username", count(*) AS n FROM events WHERE "username" IS NOT NULL '
            'GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10').fetchall()]
        # A busy principal, not the busiest (those are services and roles).
        self.user = users[min(4, len(users) - 1)]
        self.user_source = con.execute(
            'SELECT "eventSource" FROM events WHERE "username" = ? AND "errorCode" IS NOT NULL '
            'GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1', [self.user]).fetchone()
        self.user_source = self.user_source[0] if self.user_source else "s3.amazonaws.com"
        names = [r[0] for r in con.execute(
            'SELECT "eventName" FROM events GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 30'
        ).fetchall()]
        self.event_name = names[min(19, len(names) - 1)]
        ips = [r[0] for r in con.execute(
            'SELECT "sourceIPAddress" FROM events WHERE regexp_matches("sourceIPAddress", '
            "'^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$') GROUP BY 1 ORDER BY count(*) DESC, 1 "
            "LIMIT 50").fetchall()]
        self.ip = ips[min(29, len(ips) - 1)]

    def describe(self):
        return (f"user `{self.user}`, its error-heaviest source `{self.user_source}`, "
                f"event name `{self.event_name}`, IP `{self.ip}`, newest day {self.last_day}")


def ts(d, end=False):
    return f"{d.isoformat()}T{'23:59:59' if end else '00:00:00'}Z"


def queries(p):
    """Each query: name, what it asks, SQL (both engines), and the `lookup` form when
    Auditwatch answers it with its typed lookup."""
    lit = lambda s: "'" + s.replace("'", "''") + "'"  # noqa: E731
    t = lambda d, end=False: f"TIMESTAMP '{d.isoformat()} {'23:59:59' if end else '00:00:00'}'"  # noqa: E731
    d1, d2 = p.two_days
    newest = 'SELECT "eventID", "eventTime" FROM events WHERE {} ORDER BY "eventTime" DESC LIMIT 50'
    return [
        ("Q1", "top-20 eventName overall",
         'SELECT "eventName", count(*) AS n FROM events GROUP BY "eventName" '
         'ORDER BY n DESC, "eventName" LIMIT 20', None),
        ("Q2", f"one user's events in a 2-day window, newest 50",
         newest.format(f'"username" = {lit(p.user)} AND "eventTime" BETWEEN {t(d1)} AND {t(d2, True)}'),
         {"attribute": [f"Username={p.user}"], "start": ts(d1), "end": ts(d2, True)}),
        ("Q3", "count by (username, eventName) for one day",
         f'SELECT "username", "eventName", count(*) AS n FROM events WHERE "eventTime" '
         f'BETWEEN {t(p.day)} AND {t(p.day, True)} GROUP BY 1, 2 '
         'ORDER BY n DESC, "username" NULLS LAST, "eventName"', None),
        ("Q4", "AccessDenied/Unauthorized errors by user",
         'SELECT "username", count(*) AS n FROM events WHERE "errorCode" LIKE \'%AccessDenied%\' '
         'OR "errorCode" LIKE \'%Unauthorized%\' GROUP BY 1 ORDER BY n DESC, "username" NULLS LAST',
         None),
        ("Q5", "an IP address anywhere in the event (count)",
         f'SELECT count(*) AS n FROM events WHERE "raw" LIKE {lit("%" + p.ip + "%")}', None),
        ("Q6", "EventName over the last 7 days, newest 50",
         newest.format(f'"eventName" = {lit(p.event_name)} AND "eventTime" >= {t(p.week_start)}'),
         {"attribute": [f"EventName={p.event_name}"], "start": ts(p.week_start)}),
        ("Q7", "user + event source + errors only, newest 50",
         newest.format(f'"username" = {lit(p.user)} AND "eventSource" = {lit(p.user_source)} '
                       'AND "errorCode" IS NOT NULL'),
         {"attribute": [f"Username={p.user}", f"EventSource={p.user_source}"],
          "errors-only": True}),
    ]



def norm_time(v):
    s = str(v).replace("T", " ").replace("Z", "")
    return s[:19]


def answer(name, rows):
    """A comparable answer: lookups as (times in order, ids above the oldest time),
    aggregations as rows in the query's (total) order."""
    if name in ("Q2", "Q6", "Q7"):
        times = [norm_time(t) for _, t in rows]
        oldest = times[-1] if times else None
        ids = sorted(i for i, t in zip([r[0] for r in rows], times) if t != oldest)
        return {"times": times, "ids": ids}
    # Rows come as {column: value}: compared by column name, whatever the order.
    rows = [tuple(None if v is None else (int(v) if isinstance(v, (int, float)) else str(v))
                  for _, v in sorted(r.items())) for r in rows]
    return rows


def spark_sql(sql):
    """The same query in Spark SQL, where double quotes make string literals: quoted
    identifiers get backticks instead (string literals, in single quotes, are kept)."""
    out, in_string = [], False
    for ch in sql:
        if ch == "'":
            in_string = not in_string
        out.append("`" if ch == '"' and not in_string else ch)
    return "".join(out)
