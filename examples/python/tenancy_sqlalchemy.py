"""pg_tenancy with SQLAlchemy 1.4 (psycopg2): the context in every transaction.

    from tenancy_sqlalchemy import make_engine, session_for

    engine = make_engine("postgresql+psycopg2://app@db/mydb")
    with session_for(engine, user_id, tenant_id) as session:
        notes = session.execute(select(Note)).scalars().all()
        session.add(Note(tenant_id=tenant_id, body="hello"))
    # committed here; rolled back if the block raised

`session_for` puts the ids in `session.info`; the `after_begin` listener runs
`SELECT tenancy.set_context(:u, :t)` as the first statement of every
transaction the Session begins (also after a `session.commit()` inside the
block), with bound parameters, on whichever pooled connection it got.  The
context is `SET LOCAL`: it ends with the transaction, and the pool rolls back
a connection that comes back mid-transaction, so nothing of one request is
left on a pooled connection for the next.
"""
from contextlib import contextmanager

from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import sessionmaker

SET_CONTEXT = text("SELECT tenancy.set_context(:u, :t)")


def make_engine(url, **kw):
    # QueuePool is the default for PostgreSQL; on return to the pool a
    # connection is rolled back (reset_on_return="rollback", the default).
    # Do NOT pass isolation_level="AUTOCOMMIT": without a transaction the
    # context lasts one statement (pg_tenancy warns, 25P01).
    kw.setdefault("pool_size", 5)
    kw.setdefault("max_overflow", 0)
    return create_engine(url, future=True, **kw)


TenancySession = sessionmaker(future=True)


@event.listens_for(TenancySession, "after_begin")
def _set_tenancy_context(session, transaction, connection):
    ctx = session.info.get("tenancy")
    if ctx is None:
        return  # no context: protected tables show no rows, writes fail (42501)
    user_id, tenant_id = ctx
    connection.execute(SET_CONTEXT, {"u": str(user_id),
                                     "t": None if tenant_id is None else str(tenant_id)})


@contextmanager
def session_for(engine, user_id, tenant_id=None):
    """A Session acting as user_id (in tenant_id, if given); commits at the end
    of the block, rolls back if it raised.  session.commit() inside the block
    is fine: the next transaction gets the context again."""
    with TenancySession(bind=engine, info={"tenancy": (user_id, tenant_id)}) as session:
        yield session
        session.commit()


@contextmanager
def connection_for(engine, user_id, tenant_id=None):
    """The same for Core: a Connection in one transaction (engine.begin())."""
    with engine.begin() as conn:
        conn.execute(SET_CONTEXT, {"u": str(user_id),
                                   "t": None if tenant_id is None else str(tenant_id)})
        yield conn
