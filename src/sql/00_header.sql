-- pg_tenancy install script, assembled from src/sql/*.sql by the Makefile.
\echo Use "CREATE EXTENSION pg_tenancy" to load this file. \quit
