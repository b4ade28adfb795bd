/*
 * citus.h
 *		pg_tenancy on a Citus cluster (citus.c).
 */
#ifndef PG_TENANCY_CITUS_H
#define PG_TENANCY_CITUS_H

extern void tenancy_citus_init(void);

/* Whether Citus's library is loaded in this backend. */
extern bool tenancy_citus_loaded(void);

/* Whether this node is a Citus worker. */
extern bool tenancy_citus_is_worker(void);

/* Refuse to decide on a copy of the hierarchy older than the coordinator's. */
extern void tenancy_citus_check_fresh(void);

/* The coordinator's side of forwarding: before a context, at each statement. */
extern void tenancy_citus_before_forward(void);
extern void tenancy_citus_forwarded_context(uint64 identity);
extern void tenancy_citus_statement_start(void);

/* A relcache invalidation (catalog.c's callback passes each on). */
extern void tenancy_citus_relcache_inval(Oid relid);

#endif							/* PG_TENANCY_CITUS_H */
