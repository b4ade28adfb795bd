'use strict';
// test/integrations/node/isolation.test.js — run by run.sh, from a folder
// holding a copy of examples/node with its node_modules.  Prints TAP lines
// numbered from START (no plan: run.sh prints it).
//
// Environment: PGHOST, PGPORT, PGUSER (a superuser), TEST_DB, APP_ROLE,
// START, SEED, REQUESTS (per driver), CONCURRENCY, POOL_MAX.
const pg = require('pg');
const knexLib = require('knex');
const { withTenancy, withTenancyKnex } = require('./tenancy');

const env = process.env;
const DB = env.TEST_DB;
const APP = env.APP_ROLE;
const REQUESTS = Number(env.REQUESTS || 300);
const CONCURRENCY = Number(env.CONCURRENCY || 16);
const POOL_MAX = Number(env.POOL_MAX || 4);
const SEED = Number(env.SEED || 42);
// A broken glue can starve a pool (a request waiting for a second
// connection while holding one): waits are bounded, and a run stops early
// after a few unexpected errors.
const WAIT_MS = 5000;
const MAX_ERRORS = 10;
let n = Number(env.START || 1) - 1;

function ok(pass, name, details) {
  n += 1;
  console.log(`${pass ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!pass && details) {
    const lines = (Array.isArray(details) ? details : [details]).slice(0, 10);
    for (const l of lines) console.log(`# ${String(l).replace(/\n/g, '\n# ')}`);
  }
  return pass;
}
const diag = (s) => console.log(`# ${s}`);

// A small seeded PRNG (mulberry32), so a run can be repeated with SEED.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = prng(SEED);
const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const jitter = () => sleep(Math.floor(rnd() * 3));
const sameSet = (a, b) => a.size === b.size && [...a].every((x) => b.has(x));

const conn = { host: env.PGHOST, port: Number(env.PGPORT), database: DB };
const admin = new pg.Pool({ ...conn, user: env.PGUSER, max: 2 });

// ---------------------------------------------------------------------------
// What each user may do, from the facts setup.sql wrote (not from pg_tenancy):
// a tenant role (viewer, editor, admin) reads its tenant; editor and admin
// create there; an organization admin reads and creates in every tenant of
// the organization.
async function loadModel() {
  const q = async (sql) => (await admin.query(sql)).rows;
  const tenants = await q('SELECT tenant_id, org, slug FROM regress_node_map.tenants');
  const users = await q('SELECT user_id, email FROM regress_node_map.users ORDER BY email');
  const members = await q('SELECT user_id, org, org_admin FROM regress_node_map.members');
  const grants = await q('SELECT user_id, tenant_id, role FROM regress_node_map.grants');
  const seeds = await q("SELECT id, tenant_id FROM public.notes WHERE kind = 'seed'");
  const model = new Map();
  for (const u of users) model.set(u.user_id, { id: u.user_id, email: u.email, orgs: new Set(), read: new Set(), create: new Set() });
  for (const m of members) {
    const u = model.get(m.user_id);
    u.orgs.add(m.org);
    if (m.org_admin) for (const t of tenants) if (t.org === m.org) { u.read.add(t.tenant_id); u.create.add(t.tenant_id); }
  }
  for (const g of grants) {
    const u = model.get(g.user_id);
    u.read.add(g.tenant_id);
    if (g.role === 'editor' || g.role === 'admin') u.create.add(g.tenant_id);
  }
  const seedsOf = new Map(tenants.map((t) => [t.tenant_id, new Set()]));
  for (const s of seeds) seedsOf.get(s.tenant_id).add(String(s.id));
  return { tenants: tenants.map((t) => t.tenant_id), users: [...model.values()], seedsOf };
}

const expectedSeeds = (M, tenantIds) => {
  const out = new Set();
  for (const t of tenantIds) for (const id of M.seedsOf.get(t)) out.add(id);
  return out;
};

// ---------------------------------------------------------------------------
// The two drivers, the same operations.
function pgDriver(pool) {
  return {
    name: 'pg.Pool',
    run: (ctx, fn) => withTenancy(pool, ctx, fn),
    probe: async () => (await pool.query(PROBE)).rows[0],
    read: async (c) => (await c.query('SELECT id, tenant_id, kind, author, body FROM public.notes')).rows,
    whoami: async (c) => (await c.query(WHOAMI)).rows[0],
    insert: async (c, row) => (await c.query(
      'INSERT INTO public.notes (tenant_id, kind, author, body) VALUES ($1, $2, $3, $4) RETURNING id',
      [row.tenant_id, row.kind, row.author, row.body])).rows[0].id,
  };
}
function knexDriver(knex) {
  return {
    name: 'knex',
    run: (ctx, fn) => withTenancyKnex(knex, ctx, fn),
    probe: async () => (await knex.raw(PROBE)).rows[0],
    read: (trx) => trx('public.notes').select('id', 'tenant_id', 'kind', 'author', 'body'),
    whoami: async (trx) => (await trx.raw(WHOAMI)).rows[0],
    insert: async (trx, row) => (await trx('public.notes').insert(row).returning('id'))[0].id,
  };
}
const WHOAMI = `SELECT tenancy.current_user_id() AS user_id, tenancy.current_tenant_id() AS tenant_id,
                       current_setting('tenancy.context') AS context, pg_backend_pid() AS pid`;
// One statement outside any transaction block: a fresh transaction has
// now() = statement_timestamp(); a transaction left open by an earlier
// request would have started before this statement.
const PROBE = `SELECT current_setting('tenancy.context') AS context,
                      now() = statement_timestamp() AS fresh,
                      (SELECT count(*) FROM public.notes)::int AS rows`;

// ---------------------------------------------------------------------------
// One driver, REQUESTS concurrent requests of random users.
async function hammer(M, drv, tag) {
  const fail = {
    read: [], tenant: [], who: [], write: [], forbidden: [], thrown: [], refused: [], probe: [], other: [],
  };
  const counts = { user: 0, tenant: 0, write: 0, forbidden: 0, thrown: 0, refused: 0, probe: 0 };
  const written = [];   // bodies that must be in the table afterwards
  const discarded = []; // bodies that must not
  const pids = new Set();
  let inFlight = 0;
  let maxInFlight = 0;

  const checkRows = (where, rows, u, tenantId, bucket) => {
    const allowed = tenantId ? new Set([tenantId]) : u.read;
    const seen = new Set(rows.filter((r) => r.kind === 'seed').map((r) => String(r.id)));
    const want = expectedSeeds(M, allowed);
    if (!sameSet(seen, want)) {
      bucket.push(`${where}: ${u.email} tenant=${tenantId}: saw ${seen.size} seed rows, expected ${want.size}`);
    }
    const strangers = rows.filter((r) => !allowed.has(r.tenant_id));
    if (strangers.length) bucket.push(`${where}: ${u.email} saw ${strangers.length} rows of tenants it may not read`);
  };
  const checkWho = (where, who, u, tenantId) => {
    pids.add(who.pid);
    const ctx = tenantId ? `${u.id}/${tenantId}` : u.id;
    if (who.user_id !== u.id || who.tenant_id !== tenantId || who.context !== ctx) {
      fail.who.push(`${where}: context is ${who.context}, expected ${ctx}`);
    }
  };

  const task = async (i) => {
    const where = `${tag} #${i}`;
    const r = rnd();
    const u = pick(M.users);
    if (r < 0.05) { // a probe: what a request gets from the pool without the glue
      counts.probe += 1;
      const p = await drv.probe();
      if (p.context !== '' || p.fresh !== true || p.rows !== 0) {
        fail.probe.push(`${where}: pool handed out a connection with context='${p.context}' fresh=${p.fresh} rows=${p.rows}`);
      }
    } else if (r < 0.40) { // the user's every readable tenant
      counts.user += 1;
      await drv.run({ userId: u.id }, async (h) => {
        await jitter();
        checkWho(where, await drv.whoami(h), u, null);
        await jitter();
        checkRows(where, await drv.read(h), u, null, fail.read);
      });
    } else if (r < 0.62) { // one current tenant
      const readable = [...u.read];
      if (!readable.length) return task(i);
      counts.tenant += 1;
      const t = pick(readable);
      await drv.run({ userId: u.id, tenantId: t }, async (h) => {
        await jitter();
        checkRows(where, await drv.read(h), u, t, fail.tenant);
        checkWho(where, await drv.whoami(h), u, t);
      });
    } else if (r < 0.80) { // a write where the user may create, read back
      const creatable = [...u.create];
      if (!creatable.length) return task(i);
      counts.write += 1;
      const t = pick(creatable);
      const withTenant = rnd() < 0.5;
      const body = `${where} by ${u.email}`;
      await drv.run({ userId: u.id, tenantId: withTenant ? t : null }, async (h) => {
        const id = await drv.insert(h, { tenant_id: t, kind: 'write', author: u.id, body });
        await jitter();
        const rows = await drv.read(h);
        if (!rows.some((x) => String(x.id) === String(id) && x.body === body)) {
          fail.write.push(`${where}: the row just written is not visible in its transaction`);
        }
        checkRows(where, rows, u, withTenant ? t : null, fail.write);
        checkWho(where, await drv.whoami(h), u, withTenant ? t : null);
      });
      written.push(body);
    } else if (r < 0.88) { // a write into a tenant the user may not create in: 42501
      const others = M.tenants.filter((t) => !u.create.has(t));
      if (!others.length) return task(i);
      counts.forbidden += 1;
      const body = `${where} forbidden by ${u.email}`;
      try {
        await drv.run({ userId: u.id }, async (h) => {
          await drv.insert(h, { tenant_id: pick(others), kind: 'write', author: u.id, body });
        });
        fail.forbidden.push(`${where}: a write into a tenant ${u.email} may not create in succeeded`);
      } catch (e) {
        if (e.code !== '42501') fail.forbidden.push(`${where}: expected 42501, got ${e.code} ${e.message}`);
      }
      discarded.push(body);
    } else if (r < 0.94) { // the callback throws after writing: rolled back
      const creatable = [...u.create];
      if (!creatable.length) return task(i);
      counts.thrown += 1;
      const body = `${where} thrown by ${u.email}`;
      const boom = new Error('boom');
      try {
        await drv.run({ userId: u.id }, async (h) => {
          await drv.insert(h, { tenant_id: pick(creatable), kind: 'write', author: u.id, body });
          await jitter();
          throw boom;
        });
        fail.thrown.push(`${where}: the callback's error was not passed on`);
      } catch (e) {
        if (e !== boom) fail.thrown.push(`${where}: expected the callback's error, got ${e.code} ${e.message}`);
      }
      discarded.push(body);
    } else { // a context naming a tenant where the user holds nothing: refused
      const others = M.tenants.filter((t) => !u.read.has(t));
      if (!others.length) return task(i);
      counts.refused += 1;
      try {
        await drv.run({ userId: u.id, tenantId: pick(others) }, async (h) => drv.read(h));
        fail.refused.push(`${where}: a context in a tenant where ${u.email} holds nothing was accepted`);
      } catch (e) {
        if (e.code !== '42501') fail.refused.push(`${where}: expected 42501, got ${e.code} ${e.message}`);
      }
    }
  };

  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await task(i);
      } catch (e) {
        fail.other.push(`${tag} #${i}: unexpected ${e.code || ''} ${e.stack}`);
        if (fail.other.length >= MAX_ERRORS) next = REQUESTS; // give up
      } finally {
        inFlight -= 1;
      }
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const ms = Date.now() - t0;
  diag(`${tag}: ${REQUESTS} requests in ${ms} ms, ${CONCURRENCY} workers, at most ${maxInFlight} in flight, ` +
       `${pids.size} server connections; ${JSON.stringify(counts)}`);
  return { fail, counts, written, discarded, pids, maxInFlight };
}

async function checkDriver(M, drv, tag, notices) {
  const res = await hammer(M, drv, tag);
  const warnings = notices.filter((m) => m.severity === 'WARNING');
  ok(warnings.length === 0,
    `${tag}: the server sent no WARNING during the requests (such as 25P01, a context set outside a transaction)`,
    warnings.map((m) => `${m.code} ${m.message}`));
  const { fail, counts } = res;
  ok(fail.other.length === 0 && res.maxInFlight >= 8 && res.pids.size >= 2 && res.pids.size <= POOL_MAX,
    `${tag}: ${REQUESTS} requests ran, at least 8 in flight at once on ${POOL_MAX} reused connections, without unexpected errors`,
    [`max in flight ${res.maxInFlight}, server connections ${res.pids.size}`, ...fail.other]);
  ok(counts.user > 20 && fail.read.length === 0,
    `${tag}: with a user context, each request saw exactly the rows of the tenants its user may read (${counts.user} requests)`, fail.read);
  ok(counts.tenant > 20 && fail.tenant.length === 0,
    `${tag}: with a current tenant, each request saw exactly that tenant's rows (${counts.tenant} requests)`, fail.tenant);
  ok(fail.who.length === 0,
    `${tag}: every request's context was its own user and tenant, never another request's`, fail.who);
  ok(counts.write > 10 && fail.write.length === 0,
    `${tag}: writes where the user may create succeeded and were visible in their transaction (${counts.write} requests)`, fail.write);
  ok(counts.forbidden > 5 && fail.forbidden.length === 0,
    `${tag}: writes into tenants the user may not create in failed with 42501 (${counts.forbidden} requests)`, fail.forbidden);
  ok(counts.thrown > 5 && fail.thrown.length === 0,
    `${tag}: a callback that throws gets its error passed on (${counts.thrown} requests)`, fail.thrown);
  ok(counts.refused > 3 && fail.refused.length === 0,
    `${tag}: a context in a tenant where the user holds nothing is refused with 42501 (${counts.refused} requests)`, fail.refused);

  // Every connection in the pool, now and during the run (probes), is clean.
  const after = await Promise.all(Array.from({ length: POOL_MAX * 2 }, () => drv.probe()));
  const dirty = after.filter((p) => p.context !== '' || p.fresh !== true || p.rows !== 0);
  ok(counts.probe > 5 && fail.probe.length === 0 && dirty.length === 0,
    `${tag}: connections taken from the pool between and after requests had no context, no open transaction and saw no rows (${counts.probe + after.length} probes)`,
    [...fail.probe, ...dirty.map((p) => `after the run: ${JSON.stringify(p)}`)]);

  // In the table: exactly the successful writes, each where its author may create.
  const { rows } = await admin.query(
    "SELECT n.body, n.tenant_id, n.author FROM public.notes n WHERE n.kind = 'write' AND n.body LIKE $1", [`${tag} #%`]);
  const bodies = new Set(rows.map((r) => r.body));
  const byId = new Map(M.users.map((u) => [u.id, u]));
  const problems = [];
  for (const b of res.written) if (!bodies.has(b)) problems.push(`missing: ${b}`);
  for (const b of res.discarded) if (bodies.has(b)) problems.push(`kept although rolled back: ${b}`);
  for (const r of rows) if (!byId.get(r.author).create.has(r.tenant_id)) problems.push(`in a tenant its author may not create in: ${r.body}`);
  if (rows.length !== res.written.length) problems.push(`${rows.length} rows written, ${res.written.length} expected`);
  ok(problems.length === 0,
    `${tag}: the table holds exactly the committed writes (${res.written.length}), each in a tenant its author may create in`, problems);
}

// ---------------------------------------------------------------------------
async function main() {
  const M = await loadModel();
  diag(`seed ${SEED}: ${M.tenants.length} tenants, ${M.users.length} users, ` +
       `${M.users.filter((u) => u.read.size === 0).length} without any tenant`);
  const reader = M.users.filter((u) => u.read.size > 0).sort((a, b) => b.read.size - a.read.size)[0];

  // --- pg.Pool ---------------------------------------------------------------
  const pool = new pg.Pool({ ...conn, user: APP, max: POOL_MAX, connectionTimeoutMillis: WAIT_MS });
  pool.on('error', (e) => diag(`idle client error: ${e.message}`));
  const pgNotices = [];
  pool.on('connect', (c) => c.on('notice', (m) => pgNotices.push(m)));
  await checkDriver(M, pgDriver(pool), 'pg', pgNotices);

  // A connection that breaks inside a request: ROLLBACK fails, the client is
  // destroyed (release(err)), and the pool goes on with healthy ones.
  {
    const killed = [];
    let err = null;
    try {
      await withTenancy(pool, { userId: reader.id }, async (c) => {
        const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        killed.push(pid);
        await admin.query('SELECT pg_terminate_backend($1, 5000)', [pid]);
        await sleep(50);
        await c.query('SELECT 1');
      });
    } catch (e) { err = e; }
    const later = [];
    for (let i = 0; i < POOL_MAX * 3; i++) {
      later.push(withTenancy(pool, { userId: reader.id }, async (c) =>
        (await c.query('SELECT pg_backend_pid() AS pid, count(*)::int AS rows FROM public.notes')).rows[0]));
    }
    const res = await Promise.allSettled(later);
    const good = res.filter((r) => r.status === 'fulfilled' && r.value.rows > 0 && r.value.pid !== killed[0]);
    // Every client is back in the pool: none was kept checked out.
    const counts = `pool: ${pool.totalCount} clients, ${pool.idleCount} idle, ${pool.waitingCount} waiting`;
    ok(err !== null && killed.length === 1 && good.length === res.length && pool.idleCount === pool.totalCount,
      'pg: a request whose connection is terminated fails, its client is released and destroyed, and the next requests get healthy connections',
      [`error: ${err && err.message}`, `later requests ok: ${good.length}/${res.length}`, counts,
       ...res.filter((r) => r.status === 'rejected').map((r) => r.reason.message)]);
  }

  // A transaction aborted by an error the callback swallowed is not reported as a success.
  {
    let err = null;
    try {
      await withTenancy(pool, { userId: reader.id }, async (c) => {
        try { await c.query('SELECT 1/0'); } catch (e) { /* swallowed */ }
        return 'done';
      });
    } catch (e) { err = e; }
    ok(err && err.code === '25P02', 'pg: a callback that swallows a SQL error gets an error, not a silent rollback',
      `got ${err && err.message}`);
  }

  // --- knex ------------------------------------------------------------------
  const knexNotices = [];
  const knex = knexLib({ client: 'pg', connection: { ...conn, user: APP }, acquireConnectionTimeout: WAIT_MS,
    pool: { min: 0, max: POOL_MAX, afterCreate: (c, done) => { c.on('notice', (m) => knexNotices.push(m)); done(null, c); } },
    log: { warn: (m) => diag(`knex warns: ${m}`), error: (m) => diag(`knex error: ${m}`),
           deprecate: (m) => diag(`knex deprecates: ${m}`), debug: () => {} } });
  await checkDriver(M, knexDriver(knex), 'knex', knexNotices);

  {
    let err = null;
    try {
      await withTenancyKnex(knex, { userId: reader.id }, async (trx) => {
        try { await trx.raw('SELECT 1/0'); } catch (e) { /* swallowed */ }
        return 'done';
      });
    } catch (e) { err = e; }
    ok(err && err.code === '25P02', 'knex: a callback that swallows a SQL error gets an error, not a silent rollback',
      `got ${err && err.message}`);
  }

  // knex, too, drops a connection that breaks inside a transaction.
  {
    const killed = [];
    let err = null;
    try {
      await withTenancyKnex(knex, { userId: reader.id }, async (trx) => {
        const { pid } = (await trx.raw('SELECT pg_backend_pid() AS pid')).rows[0];
        killed.push(pid);
        await admin.query('SELECT pg_terminate_backend($1, 5000)', [pid]);
        await sleep(50);
        await trx.raw('SELECT 1');
      });
    } catch (e) { err = e; }
    const later = [];
    for (let i = 0; i < POOL_MAX * 3; i++) {
      later.push(withTenancyKnex(knex, { userId: reader.id }, async (trx) =>
        (await trx.raw('SELECT pg_backend_pid() AS pid, count(*)::int AS rows FROM public.notes')).rows[0]));
    }
    const res = await Promise.allSettled(later);
    const good = res.filter((r) => r.status === 'fulfilled' && r.value.rows > 0 && r.value.pid !== killed[0]);
    ok(err !== null && killed.length === 1 && good.length === res.length,
      'knex: a request whose connection is terminated fails, and the next requests get healthy connections',
      [`error: ${err && err.message}`, `later requests ok: ${good.length}/${res.length}`,
       ...res.filter((r) => r.status === 'rejected').map((r) => r.reason.message)]);
  }

  // --- Pitfalls --------------------------------------------------------------
  // pool.query() twice: each is its own connection and its own transaction.
  {
    const notices = [];
    const p2 = new pg.Pool({ ...conn, user: APP, max: 2, connectionTimeoutMillis: WAIT_MS });
    p2.on('connect', (c) => c.on('notice', (m) => notices.push(m)));
    await p2.query('SELECT tenancy.set_context($1, $2)', [reader.id, null]);
    const { rows } = await p2.query('SELECT count(*)::int AS n FROM public.notes');
    ok(notices.some((m) => m.severity === 'WARNING' && m.code === '25P01'),
      'pitfall: pool.query(set_context) outside a transaction emits a WARNING notice 25P01',
      `notices: ${JSON.stringify(notices.map((m) => [m.severity, m.code, m.message]))}`);
    ok(rows[0].n === 0, 'pitfall: the next pool.query() does not see that context: 0 rows', `saw ${rows[0].n}`);
    await p2.end();
  }
  // Even on the very same connection (a pool of one), the context ended with its statement.
  {
    const p1 = new pg.Pool({ ...conn, user: APP, max: 1, connectionTimeoutMillis: WAIT_MS });
    const a = (await p1.query('SELECT pg_backend_pid() AS pid, tenancy.set_context($1)', [reader.id])).rows[0];
    const b = (await p1.query('SELECT pg_backend_pid() AS pid, count(*)::int AS n FROM public.notes')).rows[0];
    const good = await withTenancy(p1, { userId: reader.id }, async (c) =>
      (await c.query('SELECT count(*)::int AS n FROM public.notes')).rows[0].n);
    ok(a.pid === b.pid && b.n === 0 && good > 0,
      'pitfall: on the same connection too, a context set by one pool.query() is gone for the next (0 rows), while withTenancy() sees the rows',
      `pids ${a.pid}/${b.pid}, rows ${b.n}, with withTenancy ${good}`);
    // Releasing a client without COMMIT/ROLLBACK hands the open transaction,
    // context included, to the next request on that connection.
    const c = await p1.connect();
    await c.query('BEGIN');
    await c.query('SELECT tenancy.set_context($1)', [reader.id]);
    c.release(); // the mistake
    const leaked = (await p1.query(PROBE)).rows[0];
    await p1.query('ROLLBACK');
    const clean = (await p1.query(PROBE)).rows[0];
    ok(leaked.rows > 0 && leaked.context === reader.id && leaked.fresh === false && clean.rows === 0,
      "pitfall: a client released inside its transaction hands the open transaction and its user's rows to the next request",
      `leaked ${JSON.stringify(leaked)}, after ROLLBACK ${JSON.stringify(clean)}`);
    // The next request that starts with BEGIN, as withTenancy() does, is
    // refused (25001) by pg_tenancy, which also aborts the abandoned
    // transaction: its context is gone for whoever comes next.
    const d = await p1.connect();
    await d.query('BEGIN');
    await d.query('SELECT tenancy.set_context($1)', [reader.id]);
    d.release(); // the mistake again
    let refused = null;
    try {
      await withTenancy(p1, { userId: reader.id }, async (cl) =>
        (await cl.query('SELECT count(*)::int AS n FROM public.notes')).rows[0].n);
    } catch (e) {
      refused = e;
    }
    const after = (await p1.query(PROBE)).rows[0];
    ok(refused !== null && refused.code === '25001' && after.rows === 0 && after.context === '' && after.fresh === true,
      "pitfall caught: the next request's BEGIN on a connection left in a transaction with a context fails with 25001, and nothing of that context is left",
      `error ${refused && refused.code} ${refused && refused.message}, then ${JSON.stringify(after)}`);
    await p1.end();
  }
  // knex: knex.raw() and knex('notes') outside a transaction are separate statements too.
  {
    await knex.raw('select tenancy.set_context(?, ?)', [reader.id, null]);
    const [{ n: count }] = await knex('public.notes').count('* as n');
    const inTrx = await withTenancyKnex(knex, { userId: reader.id }, async (trx) =>
      (await trx('public.notes').count('* as n'))[0].n);
    ok(Number(count) === 0 && Number(inTrx) > 0,
      'pitfall: knex.raw(set_context) then knex(table) sees 0 rows; withTenancyKnex() sees them',
      `outside ${count}, inside ${inTrx}`);
  }

  await knex.destroy();
  await pool.end();
  await admin.end();
}

main().then(() => process.exit(0), (e) => {
  console.log('Bail out! ' + String(e && e.stack).split('\n').join('\n# '));
  process.exit(1);
});
