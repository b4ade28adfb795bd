#!/usr/bin/python3
"""A PostgREST-style gateway against pg_tenancy's claims mode, as TAP.

PostgREST itself is not packaged for Debian; this plays its part exactly
where the database can tell: it logs in as the authenticator role, keeps a
small pool of connections, and runs every request as PostgREST 12 does:

    BEGIN ISOLATION LEVEL READ COMMITTED [READ ONLY]
    SELECT set_config('search_path', ..., true), set_config('role', ..., true),
           set_config('request.jwt.claims', <verified claims>, true),
           set_config('request.method', ...), ... request.path, request.headers
    WITH pgrst_source AS (...) SELECT ... json_agg(...)     -- the query
    COMMIT

The claims are the verified JWT's payload, Supabase-shaped: "sub" is the
user's id (or, for some users, a subject at an external identity provider,
with "iss"), the tenant is at "app_metadata.tenant_id", "role" picks the
database role.  Many threads share fewer connections, so every connection
serves many users in turn; each answer is checked against what that user
may see.

Usage: gateway.py DSN_FORMAT SETUP_JSON  (DSN_FORMAT has {user})
"""
import json
import random
import sys
import threading

import psycopg2
import psycopg2.errors
import psycopg2.pool

dsn_format, setup_path = sys.argv[1], sys.argv[2]
with open(setup_path) as f:
    setup = json.load(f)

users = setup["users"]              # [{id, sub, iss, tenants: {tenant: role}}]
seed_per_tenant = setup["seed_per_tenant"]
REQUESTS = 480
THREADS = 12
POOL = 4

checks = []


def check(ok, name, diag=None):
    checks.append((bool(ok), name, diag))


def claims_for(user, tenant):
    c = {"role": "pgrst_authenticated", "aud": "authenticated",
         "sub": user["sub"]}
    if user.get("iss"):
        c["iss"] = user["iss"]
    if tenant is not None:
        c["app_metadata"] = {"tenant_id": tenant, "provider": "email"}
    return json.dumps(c)


def begin_request(cur, role, claims, method, path, read_only):
    cur.execute("BEGIN ISOLATION LEVEL READ COMMITTED" + (" READ ONLY" if read_only else ""))
    cur.execute(
        "SELECT set_config('search_path', %s, true), set_config('role', %s, true), "
        "set_config('request.jwt.claims', %s, true), set_config('request.method', %s, true), "
        "set_config('request.path', %s, true), set_config('request.headers', %s, true), "
        "set_config('request.cookies', %s, true)",
        ('"public"', role, claims, method, path,
         json.dumps({"accept": "application/json", "user-agent": "test"}), "{}"))


READ = ('WITH pgrst_source AS (SELECT "public"."notes".* FROM "public"."notes") '
        "SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
        "coalesce(json_agg(_postgrest_t), '[]') AS body "
        "FROM (SELECT * FROM pgrst_source) _postgrest_t")
WRITE = ('WITH pgrst_source AS (INSERT INTO "public"."notes"("tenant_id", "body") '
         "SELECT pgrst_body.tenant_id, pgrst_body.body FROM json_populate_recordset(null::\"public\".\"notes\", %s) pgrst_body "
         'RETURNING "public"."notes".*) '
         "SELECT '' AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
         "coalesce(json_agg(_postgrest_t), '[]') AS body FROM (SELECT * FROM pgrst_source) _postgrest_t")

pool = psycopg2.pool.ThreadedConnectionPool(1, POOL, dsn_format.format(user="pgrst_authenticator"))
slots = threading.Semaphore(POOL)
lock = threading.Lock()
stats = {"reads": 0, "rows": 0, "bad_rows": [], "missing": [], "writes_ok": 0,
         "writes_refused": 0, "write_bad": [], "anon": 0, "anon_rows": 0,
         "dirty": [], "errors": []}


def request(rng):
    user = rng.choice(users)
    tenants = list(user["tenants"])
    tenant = rng.choice(tenants + [None])   # a tenant claim, or none: all of theirs
    visible = [tenant] if tenant else tenants
    kind = rng.random()
    with slots:
        conn = pool.getconn()
        try:
            conn.autocommit = True       # PostgREST sends BEGIN itself
            cur = conn.cursor()
            if kind < 0.1:
                begin_request(cur, "pgrst_anon", json.dumps({"role": "pgrst_anon"}), "GET", "/notes", True)
                cur.execute(READ)
                n = cur.fetchone()[1]
                cur.execute("COMMIT")
                with lock:
                    stats["anon"] += 1
                    stats["anon_rows"] += n
            elif kind < 0.3:
                target = rng.choice(visible if rng.random() < 0.7 else setup["tenants"])
                may = (tenant is None or target == tenant) and user["tenants"].get(target) == "editor"
                begin_request(cur, "pgrst_authenticated", claims_for(user, tenant), "POST", "/notes", False)
                try:
                    cur.execute(WRITE, (json.dumps([{"tenant_id": target, "body": "by " + user["sub"]}]),))
                    row = json.loads(json.dumps(cur.fetchone()[2]))
                    cur.execute("COMMIT")
                    with lock:
                        if may and row and row[0]["tenant_id"] == target:
                            stats["writes_ok"] += 1
                        else:
                            stats["write_bad"].append((user["sub"], tenant, target, "written"))
                except psycopg2.errors.InsufficientPrivilege:
                    cur.execute("ROLLBACK")
                    with lock:
                        if may:
                            stats["write_bad"].append((user["sub"], tenant, target, "refused"))
                        else:
                            stats["writes_refused"] += 1
            else:
                begin_request(cur, "pgrst_authenticated", claims_for(user, tenant), "GET", "/notes", True)
                cur.execute(READ)
                rows = cur.fetchone()[2]
                cur.execute("COMMIT")
                seed = {}
                bad = [r for r in rows if r["tenant_id"] not in visible]
                for r in rows:
                    if r["body"].startswith("seed"):
                        seed[r["tenant_id"]] = seed.get(r["tenant_id"], 0) + 1
                missing = [t for t in visible if seed.get(t, 0) != seed_per_tenant]
                with lock:
                    stats["reads"] += 1
                    stats["rows"] += len(rows)
                    if bad:
                        stats["bad_rows"].append((user["sub"], tenant, bad[:2]))
                    if missing:
                        stats["missing"].append((user["sub"], tenant, missing))
            # What the next request on this connection inherits: nothing.
            cur.execute("SELECT tenancy.current_user_id(), current_setting('tenancy.context')")
            leftover = cur.fetchone()
            if leftover[0] is not None or leftover[1] != "":
                with lock:
                    stats["dirty"].append(leftover)
        except Exception as e:   # reported as a failed check below
            with lock:
                stats["errors"].append(repr(e))
            try:
                conn.rollback()
            except Exception:
                pass
        finally:
            pool.putconn(conn)


def worker(seed):
    rng = random.Random(seed)
    for _ in range(REQUESTS // THREADS):
        request(rng)


threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
pool.closeall()

check(not stats["errors"], "no request failed unexpectedly", stats["errors"][:3])
check(stats["reads"] > 200, "%d reads over %d pooled connections" % (stats["reads"], POOL))
check(not stats["bad_rows"], "every row read is in a tenant the claims' user may read there", stats["bad_rows"][:3])
check(not stats["missing"], "every read saw all of its tenants' rows", stats["missing"][:3])
check(stats["writes_ok"] > 0 and stats["writes_refused"] > 0 and not stats["write_bad"],
      "writes land where the user is an editor and are refused (42501) elsewhere (%d, %d)"
      % (stats["writes_ok"], stats["writes_refused"]), stats["write_bad"][:3])
check(stats["anon"] > 0 and stats["anon_rows"] == 0, "anonymous requests see no rows")
check(not stats["dirty"], "no connection goes back to the pool with a context", stats["dirty"][:3])

# Attacks from outside the gateway.
alice = users[0]
conn = psycopg2.connect(dsn_format.format(user="pgrst_intruder"))
conn.autocommit = True
cur = conn.cursor()
begin_request(cur, "pgrst_intruder", claims_for(alice, None), "GET", "/notes", True)
cur.execute("SELECT count(*), tenancy.current_user_id() FROM notes")
n, uid = cur.fetchone()
cur.execute("COMMIT")
check(n == 0 and uid is None, "another login role's claims establish nothing")
conn.close()

conn = psycopg2.connect(dsn_format.format(user="pgrst_authenticator"))
conn.autocommit = True
cur = conn.cursor()
cur.execute("SELECT set_config('request.jwt.claims', %s, false)", (claims_for(alice, None),))
cur.execute("BEGIN")
cur.execute("SET LOCAL ROLE pgrst_authenticated")
cur.execute("SELECT count(*) FROM notes")
n = cur.fetchone()[0]
cur.execute("COMMIT")
check(n == 0, "claims left for the session by an earlier request establish nothing")
# A request that returns its connection mid-transaction: the next BEGIN fails
# and ends that transaction.
begin_request(cur, "pgrst_authenticated", claims_for(alice, None), "GET", "/notes", True)
cur.execute(READ)
try:
    cur.execute("BEGIN")
    check(False, "BEGIN on a connection left in a transaction with a context is refused")
except psycopg2.errors.ActiveSqlTransaction:
    check(True, "BEGIN on a connection left in a transaction with a context is refused")
cur.execute("ROLLBACK")
conn.close()

print("1..%d" % len(checks))
for i, (ok, name, diag) in enumerate(checks, 1):
    print("%sok %d - %s" % ("" if ok else "not ", i, name))
    if not ok and diag:
        for d in diag if isinstance(diag, list) else [diag]:
            print("# %s" % (d,))
sys.exit(0 if all(ok for ok, _, _ in checks) else 1)
