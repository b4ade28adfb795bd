"""setup_world.py DBNAME APPROLE WORLD.json — as the superuser (PG* environment):
a hierarchy of organizations, tenants, teams and ~20 users with random roles,
a protected table `notes` with seed rows, and the application role.  Writes
the assignment map and the expected permissions, computed here from that map
(not asked of pg_tenancy), to WORLD.json.  Prints TAP lines without numbers.
"""
import json
import random
import sys

import psycopg2

db, app, out = sys.argv[1:4]
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 20261203)

conn = psycopg2.connect(dbname=db)
conn.autocommit = False
cur = conn.cursor()


def one(sql, *args):
    cur.execute(sql, args)
    return cur.fetchone()[0]


cur.execute("""
CREATE TABLE public.notes (
    id        bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    body      text NOT NULL
);
CREATE INDEX ON public.notes (tenant_id);
SELECT tenancy.protect('public.notes', resource_type => 'note');
""")
cur.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes TO "{app}"')
cur.execute(f'GRANT USAGE ON SEQUENCE public.notes_id_seq TO "{app}"')

ROLE_ACTIONS = {"viewer": {"read"}, "editor": {"create", "read", "share"},
                "admin": {"create", "read", "update", "delete", "share"}}

users = [one("SELECT tenancy.create_user(%s)", f"u{i:02d}@py.test") for i in range(20)]
outsider = one("SELECT tenancy.create_user('outsider@py.test')")
orgs, tenants, tenant_org = [], [], {}
perms = {}            # user -> tenant -> set of actions on notes
for o in range(3):
    admin = users[o]
    org = one("SELECT tenancy.create_organization(%s, %s, admin => %s)",
              f"pyorg{o}", f"Org {o}", admin)
    ts = [one("SELECT tenancy.create_tenant(%s, %s)", org, f"t{k}")
          for k in range(rng.choice([2, 3]))]
    orgs.append({"id": org, "admin": admin, "tenants": ts})
    for t in ts:
        tenant_org[t] = org
        tenants.append(t)
        perms.setdefault(admin, {})[t] = set(ROLE_ACTIONS["admin"])

assignments = []      # (role, tenant, user or None, team or None)
members = {o["id"]: {o["admin"]} for o in orgs}
for u in users[3:]:
    for o in rng.sample(orgs, rng.choice([1, 1, 2])):
        cur.execute("SELECT tenancy.add_member(%s, %s)", (o["id"], u))
        members[o["id"]].add(u)
        for t in rng.sample(o["tenants"], rng.randint(0, len(o["tenants"]))):
            role = rng.choice(["viewer", "editor", "admin"])
            cur.execute("SELECT tenancy.assign_role(%s, tenant => %s, user_id => %s)",
                        (role, t, u))
            assignments.append((role, t, u, None))
            perms.setdefault(u, {}).setdefault(t, set()).update(ROLE_ACTIONS[role])

# A team per organization, with a role on one of its tenants.
for o in orgs:
    team = one("SELECT tenancy.create_team(%s, 'readers')", o["id"])
    role, t = rng.choice(["viewer", "editor"]), rng.choice(o["tenants"])
    cur.execute("SELECT tenancy.assign_role(%s, tenant => %s, team_id => %s)",
                (role, t, team))
    for u in rng.sample(sorted(members[o["id"]]), 3):
        cur.execute("SELECT tenancy.add_team_member(%s, %s)", (team, u))
        perms.setdefault(u, {}).setdefault(t, set()).update(ROLE_ACTIONS[role])
    assignments.append((role, t, None, team))

seed = {}             # note id -> tenant
for t in tenants:
    for i in range(rng.randint(4, 12)):
        seed[one("INSERT INTO public.notes (tenant_id, body) VALUES (%s, %s) RETURNING id",
                 t, f"seed:{i}")] = t
conn.commit()

world = {
    "users": users, "outsider": outsider, "tenants": tenants, "tenant_org": tenant_org,
    "orgs": orgs, "assignments": assignments, "seed": {str(k): v for k, v in seed.items()},
    "perms": {u: {t: sorted(a) for t, a in ts.items()} for u, ts in perms.items()},
}
with open(out, "w") as f:
    json.dump(world, f, indent=1)

# The model agrees with pg_tenancy's own answers, for every user and tenant.
bad = []
for u in users + [outsider]:
    for t in tenants:
        for action in ("read", "create"):
            want = action in perms.get(u, {}).get(t, set())
            got = one("SELECT tenancy.has_permission(%s, %s, %s)", u, t, f"note:{action}")
            if got != want:
                bad.append(f"{u} {t} note:{action}: model {want}, has_permission {got}")
print(("ok" if not bad else "not ok") +
      f" - the assignment map ({len(users) + 1} users, {len(tenants)} tenants, "
      f"{len(assignments)} assignments, {len(seed)} notes) agrees with tenancy.has_permission")
for b in bad[:10]:
    print("# " + b)

# The set-up follows the README's advice: tenancy.check_setup() finds nothing
# worse than "info".
cur.execute("SELECT severity, check_name, object, detail FROM tenancy.check_setup() "
            "WHERE severity <> 'info'")
findings = cur.fetchall()
print(("ok" if not findings else "not ok") +
      " - tenancy.check_setup() finds nothing critical or warning in the test database")
for f in findings:
    print("# " + " | ".join(map(str, f)))
