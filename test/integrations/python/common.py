"""Shared by the SQLAlchemy and Django checks: the world, random requests, and
what each request must see, from the assignment map alone."""
import json
import random
import threading
import uuid


class World:
    def __init__(self, path):
        with open(path) as f:
            w = json.load(f)
        self.users = w["users"] + [w["outsider"]]
        self.tenants = w["tenants"]
        self.perms = {u: {t: set(a) for t, a in ts.items()} for u, ts in w["perms"].items()}
        self.seed = {int(k): v for k, v in w["seed"].items()}

    def may(self, user, tenant, action):
        return action in self.perms.get(user, {}).get(tenant, set())

    def member(self, user):
        return user != self.users[-1]          # the outsider is a member of nothing

    def context_ok(self, user, tenant):
        """May the user set this context (else 42501)?"""
        if tenant is None:
            return self.member(user)
        return bool(self.perms.get(user, {}).get(tenant))

    def readable(self, user, tenant):
        """Tenants whose rows the context (user, tenant) reads."""
        ts = [tenant] if tenant else self.tenants
        return {t for t in ts if self.may(user, t, "read")}

    def expected_seed(self, user, tenant):
        r = self.readable(user, tenant)
        return {i for i, t in self.seed.items() if t in r}

    def requests(self, n, stack, seed):
        """n random requests: user, tenant of the context (or None), and the
        tenant a writing request inserts into (or None)."""
        rng = random.Random(seed)
        out = []
        for k in range(n):
            u = rng.choice(self.users)
            held = sorted(self.perms.get(u, {}))
            r = rng.random()
            if r < 0.5:
                t = None
            elif r < 0.85 and held:
                t = rng.choice(held)
            else:
                t = rng.choice(self.tenants)    # often one where u holds nothing
            w = None
            if rng.random() < 0.35:
                w = t if t and rng.random() < 0.7 else rng.choice(self.tenants)
            out.append({"n": k, "user": u, "tenant": t, "write": w,
                        "body": f"w:{stack}:{k}:{uuid.uuid4().hex[:8]}"})
        return out

    def write_ok(self, req):
        """Does this request's insert succeed?"""
        t, w = req["tenant"], req["write"]
        if t is not None and w != t:
            return False                        # the context's tenant only
        return self.may(req["user"], w, "create")


def expected_context(req):
    return req["user"] + ("/" + req["tenant"] if req["tenant"] else "")


class InFlight:
    """Counts requests running at once."""
    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.max = 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.max = max(self.max, self.now)

    def __exit__(self, *a):
        with self.lock:
            self.now -= 1


class Tap:
    def __init__(self):
        self.failed = 0

    def check(self, ok, desc, diag=()):
        print(("ok" if ok else "not ok") + " - " + desc, flush=True)
        if not ok:
            self.failed += 1
            for d in list(diag)[:10]:
                print("# " + str(d).replace("\n", "\n# "), flush=True)


def judge(world, results, tap, stack, extra_pids=None):
    """The checks common to both stacks, over the results of all requests.

    Each result: req, status ('ok', 'refused', 'error'), context, pid,
    notes [(id, tenant, body)], write ('done', 'refused', None), error."""
    errors = [r for r in results if r["status"] == "error"]
    tap.check(not errors, f"{stack}: all {len(results)} requests completed without unexpected errors",
              [f"{r['req']}: {r['error']}" for r in errors])

    wrong_ctx = [r for r in results
                 if (r["status"] == "refused") == world.context_ok(r["req"]["user"], r["req"]["tenant"])]
    tap.check(not wrong_ctx,
              f"{stack}: set_context was refused (42501) exactly for users who hold nothing there "
              f"({sum(r['status'] == 'refused' for r in results)} refused)",
              [f"{r['req']}: {r['status']} {r.get('error')}" for r in wrong_ctx])

    served = [r for r in results if r["status"] == "ok"]
    bad_ctx = [r for r in served if r["context"] != expected_context(r["req"])]
    tap.check(not bad_ctx, f"{stack}: every transaction ran in its own request's context",
              [f"{r['req']}: context {r['context']!r}" for r in bad_ctx])

    bad_seed, leaks = [], []
    for r in served:
        req = r["req"]
        got = {i for i, t, b in r["notes"] if b.startswith("seed:")}
        want = world.expected_seed(req["user"], req["tenant"])
        if got != want:
            bad_seed.append(f"{req}: {len(got)} seed rows, want {len(want)}; "
                            f"extra {sorted(got - want)[:5]} missing {sorted(want - got)[:5]}")
        readable = world.readable(req["user"], req["tenant"])
        leaks += [f"{req}: row {i} of tenant {t}" for i, t, b in r["notes"] if t not in readable]
    tap.check(not bad_seed and served,
              f"{stack}: each of {len(served)} requests saw exactly the seed rows its user may read",
              bad_seed)
    tap.check(not leaks, f"{stack}: no request saw a row of a tenant its context may not read "
              f"(including rows written concurrently)", leaks)

    bad_w = [r for r in served if r["req"]["write"]
             and (r["write"] == "done") != world.write_ok(r["req"])]
    nw = sum(1 for r in served if r["req"]["write"])
    tap.check(not bad_w and nw > 0,
              f"{stack}: {nw} inserts succeeded exactly where the user may create notes "
              f"({sum(r['write'] == 'done' for r in served)} done), refused (42501) elsewhere",
              [f"{r['req']}: {r['write']} {r.get('error')}" for r in bad_w])

    by_pid = {}
    for r in served:
        by_pid.setdefault(r["pid"], set()).add(r["req"]["user"])
    return by_pid


def check_written(world, results, tap, stack, rows):
    """rows: (tenant, body) of the table's w:<stack>: rows, read as the superuser."""
    want = sorted((r["req"]["write"], r["req"]["body"]) for r in results
                  if r["status"] == "ok" and r["write"] == "done")
    got = sorted(rows)
    tap.check(got == want, f"{stack}: afterwards the table holds exactly the {len(want)} "
              f"successful inserts, each in its tenant",
              [f"{len(got)} rows, want {len(want)}; extra {sorted(set(got) - set(want))[:3]} "
               f"missing {sorted(set(want) - set(got))[:3]}"])
