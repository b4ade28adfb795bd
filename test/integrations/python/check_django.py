"""check_django.py WORLD.json BASE_URL SUPERUSER_DSN — concurrent HTTP requests to
the Django example (examples/python/django_example, served by its serve.py
behind PgBouncer), then its pitfalls in-process, straight to the database
named by the TENANCY_DB_* environment.  TAP lines, unnumbered."""
import json
import os
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from common import InFlight, Tap, World, check_written, judge  # noqa: E402

world_path, base, su_dsn = sys.argv[1:4]
REQUESTS, THREADS, POOL = (int(os.environ.get("PY_REQUESTS", 300)), 12,
                           int(os.environ.get("PGB_POOL", 4)))
world = World(world_path)
tap = Tap()
inflight = InFlight()


def http(method, req, body=None):
    headers = {"X-Tenancy-User": req["user"], "Content-Type": "application/json"}
    if req["tenant"]:
        headers["X-Tenancy-Tenant"] = req["tenant"]
    r = urllib.request.Request(base + "/notes/", method=method, headers=headers,
                               data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            code, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        code, raw = e.code, e.read()
    try:
        return code, json.loads(raw)
    except ValueError:
        return code, {"raw": raw[:300].decode(errors="replace")}


def handle(req):
    res = {"req": req, "status": "ok", "write": None, "error": None}
    with inflight:
        try:
            if req["write"]:
                code, data = http("POST", req, {"tenant_id": req["write"], "body": req["body"]})
                if code == 201:
                    res["write"] = "done"
                elif code == 403 and data.get("error") == "forbidden":
                    res["write"] = "refused"
                elif code == 403 and data.get("sqlstate") == "42501":
                    res["status"] = "refused"
                    return res
                else:
                    res["status"], res["error"] = "error", f"POST {code} {data}"
                    return res
            code, data = http("GET", req)
            if code == 200:
                res["context"], res["pid"] = data["context"], data["backend_pid"]
                res["notes"] = [(n["id"], n["tenant_id"], n["body"]) for n in data["notes"]]
            elif code == 403 and data.get("sqlstate") == "42501":
                res["status"] = "refused"
            else:
                res["status"], res["error"] = "error", f"GET {code} {data}"
        except Exception as e:         # noqa: BLE001
            res["status"], res["error"] = "error", repr(e)
    return res


reqs = world.requests(REQUESTS, "django", 2)
t0 = time.time()
with ThreadPoolExecutor(THREADS) as ex:
    results = list(ex.map(handle, reqs))
elapsed = time.time() - t0

by_pid = judge(world, results, tap, "django")
tap.check(inflight.max >= 8 and 0 < len(by_pid) <= POOL and max(map(len, by_pid.values())) >= 2,
          f"django: {REQUESTS} requests in {elapsed:.1f}s, up to {inflight.max} at once, "
          f"served by {len(by_pid)} server connections (PgBouncer pool_size={POOL}), each serving several users",
          [f"backend {p}: {len(us)} users" for p, us in by_pid.items()])

import psycopg2  # noqa: E402

su = psycopg2.connect(su_dsn)
with su.cursor() as cur:
    cur.execute("SELECT tenant_id::text, body FROM public.notes WHERE body LIKE 'w:django:%'")
    rows = cur.fetchall()
su.close()
check_written(world, results, tap, "django", rows)

# Hostile and missing identities over HTTP.
code, data = http("GET", {"user": "x', NULL); DELETE FROM notes; --", "tenant": None})
tap.check(code == 400 and data.get("sqlstate") == "22P02",
          "django: a hostile user id is a bound parameter (400, 22P02)", [f"{code} {data}"])
r = urllib.request.Request(base + "/notes/")
with urllib.request.urlopen(r, timeout=30) as resp:
    data = json.loads(resp.read())
tap.check(data["notes"] == [] and data["context"] == "",
          "django: a request without a user sees no rows", [str(data)])

# In-process pitfalls, with the example's settings.
sys.path.insert(0, os.path.join(here, "..", "..", "..", "examples", "python", "django_example"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenancy_site.settings")
import django  # noqa: E402

django.setup()
from django.db import connection, transaction  # noqa: E402
from notes.models import Note  # noqa: E402

reader = next(u for u in world.users if world.expected_seed(u, None))
n_reader = len(world.expected_seed(reader, None))
seeds = Note.objects.filter(body__startswith="seed:")

connection.ensure_connection()
del connection.connection.notices[:]
with connection.cursor() as cur:              # Django's default: autocommit
    cur.execute("SELECT tenancy.set_context(%s, %s)", [reader, None])
warned = [m for m in connection.connection.notices if "outside a transaction block" in m]
after = seeds.count()
tap.check(warned and after == 0,
          "django pitfall: set_context without transaction.atomic() warns and the next query sees 0 rows",
          [f"notices {connection.connection.notices}, rows after {after}"])

with transaction.atomic():
    with connection.cursor() as cur:
        cur.execute("SELECT tenancy.set_context(%s, %s)", [reader, None])
    inside = seeds.count()
outside = seeds.count()
tap.check(inside == n_reader and outside == 0,
          "django: inside transaction.atomic() the context holds, and ends with it",
          [f"inside {inside} (want {n_reader}), after {outside}"])
connection.close()

# A view that raises after writing: the middleware's transaction is rolled back.
import logging  # noqa: E402

from django.test import Client, override_settings  # noqa: E402

logging.getLogger("django.request").setLevel(logging.CRITICAL)
writer, wt = next((u, t) for u in world.users for t in world.tenants if world.may(u, t, "create"))
with override_settings(ROOT_URLCONF="test_urls"):
    client = Client(raise_request_exception=False)
    ok_resp = client.post("/notes/", {"tenant_id": wt, "body": "w:django-inproc:kept"},
                          content_type="application/json", HTTP_X_TENANCY_USER=writer)
    fail_resp = client.get("/fail/", {"tenant": wt, "body": "w:django-inproc:failed"},
                           HTTP_X_TENANCY_USER=writer)
connection.close()
su = psycopg2.connect(su_dsn)
with su.cursor() as cur:
    cur.execute("SELECT body FROM public.notes WHERE body LIKE 'w:django-inproc:%' ORDER BY 1")
    kept = [r[0] for r in cur.fetchall()]
su.close()
tap.check(ok_resp.status_code == 201 and fail_resp.status_code == 500
          and kept == ["w:django-inproc:kept"],
          "django: a view that raises after writing is rolled back (process_exception), "
          "a view that returns is committed",
          [f"POST {ok_resp.status_code}, failing view {fail_resp.status_code}, rows {kept}"])
sys.exit(1 if tap.failed else 0)
