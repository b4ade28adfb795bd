'use strict';
// pg_tenancy glue for Node.js: run one request's work in a transaction with
// the request's tenancy context, with node-postgres (pg.Pool) or knex.
//
// pg_tenancy's context (tenancy.set_context(user, tenant)) is SET LOCAL: it
// counts only in the transaction that set it.  So every request must
//   1. take ONE connection, 2. BEGIN, 3. set the context, 4. do its work on
//   that same connection, 5. COMMIT (ROLLBACK on error), 6. give the
//   connection back with no transaction open.
// Both helpers below do exactly that.

/**
 * withTenancy(pool, { userId, tenantId }, async (client) => ...) → callback's result
 *
 * pool:     a pg.Pool
 * userId:   the user's uuid (tenancy.create_user), required
 * tenantId: the current tenant's uuid, or null/undefined for "every tenant
 *           the user may read"
 * callback: gets a pg.Client inside the transaction; use ONLY this client
 *           (not pool.query) for the request's queries, and await them.
 *
 * The client always goes back to the pool outside any transaction: after
 * COMMIT, or after ROLLBACK when anything failed; if even ROLLBACK fails
 * (the connection is broken), the client is destroyed with
 * client.release(err) instead of being handed to the next request.
 */
async function withTenancy(pool, { userId, tenantId = null } = {}, callback) {
  if (!userId) throw new TypeError('withTenancy: userId is required');
  if (typeof callback !== 'function') throw new TypeError('withTenancy: callback is required');

  const client = await pool.connect();
  // While a client is checked out, pg.Pool does not listen for its 'error'
  // event: a connection lost between two queries (a terminated backend, a
  // server restart) would be an unhandled 'error' event and end the process.
  // Keep the error; the next query fails anyway, and the client is destroyed.
  let connectionError = null;
  const onError = (err) => { connectionError = err; };
  client.on('error', onError);
  const release = (err) => {
    client.removeListener('error', onError);
    client.release(err || connectionError || undefined);
  };

  let result;
  let commit;
  try {
    await client.query('BEGIN');
    // Bound parameters, never string concatenation.
    await client.query('SELECT tenancy.set_context($1, $2)', [userId, tenantId]);
    result = await callback(client);
    commit = await client.query('COMMIT');
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      release(rollbackErr); // destroy it: its state is unknown
      throw err;
    }
    release();
    throw err;
  }
  release();
  // COMMIT of a transaction that had an error (one the callback caught and
  // swallowed) is answered with ROLLBACK: nothing was saved.  Say so.
  if (commit.command === 'ROLLBACK') {
    const err = new Error('withTenancy: the transaction had failed and was rolled back, nothing was saved');
    err.code = '25P02';
    throw err;
  }
  return result;
}

/**
 * withTenancyKnex(knex, { userId, tenantId }, async (trx) => ...) → callback's result
 *
 * The same with knex: knex.transaction() takes one connection, BEGINs,
 * COMMITs when the callback's promise resolves and ROLLBACKs when it rejects,
 * and gives the connection back.  Run every query of the request on `trx`
 * (trx('notes')..., trx.raw(...)), never on `knex` itself.
 */
function withTenancyKnex(knex, { userId, tenantId = null } = {}, callback, trxConfig) {
  if (!userId) throw new TypeError('withTenancyKnex: userId is required');
  return knex.transaction(async (trx) => {
    await trx.raw('select tenancy.set_context(?, ?)', [userId, tenantId]);
    const result = await callback(trx);
    // knex COMMITs a transaction that an error the callback caught (and
    // swallowed) has aborted, PostgreSQL answers ROLLBACK, and knex reports
    // success.  One more round trip fails (25P02) in that case, so that
    // knex rolls back and the caller gets the error.
    await trx.raw('select 1');
    return result;
  }, trxConfig);
}

module.exports = { withTenancy, withTenancyKnex };
