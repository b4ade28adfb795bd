#!/usr/bin/env python3
"""sqlalchemy_demo.py DATABASE_URL USER_ID [TENANT_ID]: list the notes the user
may read, through tenancy_sqlalchemy.session_for().

    python3 sqlalchemy_demo.py postgresql+psycopg2://app@127.0.0.1:5432/tenancy_example <uuid>
"""
import sys

from sqlalchemy import BigInteger, Column, Text, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import declarative_base

from tenancy_sqlalchemy import make_engine, session_for

Base = declarative_base()


class Note(Base):
    __tablename__ = "notes"
    id = Column(BigInteger, primary_key=True)
    tenant_id = Column(UUID(as_uuid=False), nullable=False)
    body = Column(Text, nullable=False)


def main():
    url, user_id = sys.argv[1], sys.argv[2]
    tenant_id = sys.argv[3] if len(sys.argv) > 3 else None
    engine = make_engine(url)
    with session_for(engine, user_id, tenant_id) as session:
        for note in session.execute(select(Note).order_by(Note.id)).scalars():
            print(note.id, note.tenant_id, note.body)


if __name__ == "__main__":
    main()
