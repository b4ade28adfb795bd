'use strict';
// node example.js USER_UUID [TENANT_UUID]
//
// Reads a protected table as one user, the way a request handler would,
// with pg.Pool and with knex.  Connection settings come from the usual
// libpq variables: PGHOST, PGPORT, PGDATABASE, PGUSER (the application
// role, not a superuser and not the table's owner), PGPASSWORD.  TABLE names
// the protected table (default: pipelines, from the README's Quick start).
const { Pool, escapeIdentifier } = require('pg');
const knexLib = require('knex');
const { withTenancy, withTenancyKnex } = require('./tenancy');

const [userId, tenantId = null] = process.argv.slice(2);
if (!userId) {
  console.error('usage: node example.js USER_UUID [TENANT_UUID]');
  process.exit(2);
}
const table = process.env.TABLE || 'pipelines';

async function main() {
  const pool = new Pool({ max: 4 });
  const knex = knexLib({ client: 'pg', connection: {}, pool: { min: 0, max: 4 } });
  try {
    // pg.Pool: one client, BEGIN, set_context, your queries, COMMIT.
    const rows = await withTenancy(pool, { userId, tenantId }, async (client) => {
      const res = await client.query(`SELECT * FROM ${escapeIdentifier(table)}`);
      return res.rows;
    });
    console.log(`pg.Pool: ${rows.length} rows of ${table}`);
    console.table(rows);

    // knex: the same in knex.transaction().
    const viaKnex = await withTenancyKnex(knex, { userId, tenantId }, (trx) => trx(table).select('*'));
    console.log(`knex: ${viaKnex.length} rows of ${table}`);

    // Without the glue: no context, no rows.
    const bare = await pool.query(`SELECT count(*)::int AS n FROM ${escapeIdentifier(table)}`);
    console.log(`pool.query() without a context: ${bare.rows[0].n} rows`);
  } finally {
    await knex.destroy();
    await pool.end();
  }
}

main().catch((err) => {
  console.error(`${err.code || ''} ${err.message}`);
  process.exit(1);
});
