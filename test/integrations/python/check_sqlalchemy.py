"""check_sqlalchemy.py WORLD.json URL SUPERUSER_URL — concurrent requests through
examples/python/tenancy_sqlalchemy.py, and its pitfalls.  TAP lines, unnumbered."""
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "..", "examples", "python"))
sys.path.insert(0, here)

from sqlalchemy import BigInteger, Column, Text, create_engine, select, text  # noqa: E402
from sqlalchemy.dialects.postgresql import UUID  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402
from sqlalchemy.orm import declarative_base  # noqa: E402

from common import InFlight, Tap, World, check_written, judge  # noqa: E402
from tenancy_sqlalchemy import connection_for, make_engine, session_for  # noqa: E402

world_path, url, su_url = sys.argv[1:4]
REQUESTS, THREADS, POOL = int(os.environ.get("PY_REQUESTS", 300)), 12, 4
world = World(world_path)
tap = Tap()
Base = declarative_base()


class Note(Base):
    __tablename__ = "notes"
    id = Column(BigInteger, primary_key=True)
    tenant_id = Column(UUID(as_uuid=False), nullable=False)
    body = Column(Text, nullable=False)


def pgcode(e):
    return getattr(getattr(e, "orig", None), "pgcode", None)


engine = make_engine(url, pool_size=POOL, max_overflow=0, pool_timeout=30)
inflight = InFlight()


def handle(req):
    res = {"req": req, "status": "ok", "write": None, "error": None}
    with inflight:
        try:
            with session_for(engine, req["user"], req["tenant"]) as s:
                res["context"], res["pid"] = s.execute(
                    text("SELECT current_setting('tenancy.context'), pg_backend_pid()")).one()
                if req["write"]:
                    try:
                        with s.begin_nested():
                            s.add(Note(tenant_id=req["write"], body=req["body"]))
                        res["write"] = "done"
                    except DBAPIError as e:
                        if pgcode(e) != "42501":
                            raise
                        res["write"], res["error"] = "refused", str(e.orig).strip()
                res["notes"] = [(n.id, n.tenant_id, n.body)
                                for n in s.execute(select(Note)).scalars()]
                time.sleep(0.002)          # hold the connection a little: more interleaving
        except DBAPIError as e:
            res["status"] = "refused" if pgcode(e) == "42501" else "error"
            res["error"] = f"{pgcode(e)} {e.orig}".strip()
        except Exception as e:         # noqa: BLE001
            res["status"], res["error"] = "error", repr(e)
    return res


reqs = world.requests(REQUESTS, "sqlalchemy", 1)
t0 = time.time()
with ThreadPoolExecutor(THREADS) as ex:
    results = list(ex.map(handle, reqs))
elapsed = time.time() - t0

by_pid = judge(world, results, tap, "sqlalchemy")
tap.check(inflight.max >= 8 and len(by_pid) <= POOL and max(map(len, by_pid.values())) >= 2,
          f"sqlalchemy: {REQUESTS} requests in {elapsed:.1f}s, up to {inflight.max} at once "
          f"over {len(by_pid)} pooled connections (pool_size={POOL}), each serving several users",
          [f"backend {p}: {len(us)} users" for p, us in by_pid.items()])

su = create_engine(su_url, future=True)
with su.connect() as c:
    rows = c.execute(text("SELECT tenant_id::text, body FROM public.notes WHERE body LIKE 'w:sqlalchemy:%'")).all()
check_written(world, results, tap, "sqlalchemy", [tuple(r) for r in rows])

# A user who reads something, with no tenant.
reader = next(u for u in world.users if world.expected_seed(u, None))
n_reader = len(world.expected_seed(reader, None))

# One Session, two transactions: the listener sets the context in each.
with session_for(engine, reader) as s:
    first = s.execute(text("SELECT count(*) FROM notes WHERE body LIKE 'seed:%'")).scalar()
    s.commit()
    second = s.execute(text("SELECT count(*), current_setting('tenancy.context') FROM notes "
                            "WHERE body LIKE 'seed:%'")).one()
tap.check(first == n_reader and tuple(second) == (n_reader, reader),
          "sqlalchemy: after session.commit() inside the block, the next transaction has the context again",
          [f"first {first}, second {tuple(second)}, want {n_reader}"])

# Core: connection_for() sets the context in its transaction, and it ends there.
with connection_for(engine, reader) as c:
    core_in = c.execute(text("SELECT count(*) FROM notes WHERE body LIKE 'seed:%'")).scalar()
with engine.connect() as c:
    core_after = c.execute(text("SELECT count(*) FROM notes")).scalar()
tap.check(core_in == n_reader and core_after == 0,
          "sqlalchemy Core: connection_for() reads as the user, and the next transaction has no context",
          [f"inside {core_in} (want {n_reader}), after {core_after}"])

# Pitfall: autocommit.  The context lasts one statement and warns; the
# psycopg2 dialect moves server notices to the logger
# "sqlalchemy.dialects.postgresql" at INFO level (nowhere, by default).
class Notices(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.seen = []

    def emit(self, record):
        self.seen.append(record.getMessage())


notices = Notices()
pglog = logging.getLogger("sqlalchemy.dialects.postgresql")
pglog.addHandler(notices)
pglog.setLevel(logging.INFO)
pglog.propagate = False
auto = make_engine(url, pool_size=1, isolation_level="AUTOCOMMIT")
with auto.connect() as c:
    c.execute(text("SELECT tenancy.set_context(:u, :t)"), {"u": reader, "t": None})
    warned = [m for m in notices.seen if "WARNING" in m and "outside a transaction block" in m]
    after = c.execute(text("SELECT count(*) FROM notes")).scalar()
pglog.removeHandler(notices)
tap.check(warned and after == 0,
          "sqlalchemy pitfall: set_context in AUTOCOMMIT mode warns and the next statement sees 0 rows",
          [f"notices {notices.seen}, rows after: {after}"])
auto.dispose()

# Pitfall: a connection given back to the pool mid-transaction.  The pool
# rolls it back, so the next user of that connection has no context.
one = make_engine(url, pool_size=1)
c = one.connect()
c.begin()
c.execute(text("SELECT tenancy.set_context(:u, :t)"), {"u": reader, "t": None})
pid1, before = c.execute(text("SELECT pg_backend_pid(), count(*) FROM notes WHERE body LIKE 'seed:%'")).one()
c.close()                                   # no commit: back to the pool mid-transaction
with one.connect() as c2:
    with c2.begin():
        pid2, after, ctx = c2.execute(text(
            "SELECT pg_backend_pid(), count(*), current_setting('tenancy.context') FROM notes")).one()
tap.check(pid1 == pid2 and before == n_reader and after == 0 and ctx == "",
          "sqlalchemy pitfall: a connection returned to the pool mid-transaction comes back without the context",
          [f"pid {pid1}->{pid2}, rows {before}->{after}, context {ctx!r}"])
one.dispose()

# Bound parameters: a hostile "user id" is data, not SQL.
try:
    with session_for(engine, "x', NULL); DELETE FROM notes; --") as s:
        s.execute(text("SELECT 1"))
    code = None
except DBAPIError as e:
    code = pgcode(e)
with su.connect() as c:
    total = c.execute(text("SELECT count(*) FROM public.notes")).scalar()
tap.check(code == "22P02" and total >= len(world.seed),
          "sqlalchemy: a hostile user id is a bound parameter (22P02, the table is intact)",
          [f"sqlstate {code}, rows {total}"])
engine.dispose()
su.dispose()
sys.exit(1 if tap.failed else 0)
