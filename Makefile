# pg_tenancy — PGXS build
EXTENSION   = pg_tenancy
EXTVERSION  = 0.2.0

MODULE_big  = pg_tenancy
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is assembled from the pieces in src/sql, in name order,
# so that each part of the schema lives beside the C it belongs to.
SQL_PARTS   = $(sort $(wildcard src/sql/*.sql))
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql
# Released versions' install scripts, frozen as they shipped, and the
# upgrade scripts between versions (ALTER EXTENSION pg_tenancy UPDATE).
DATA        = $(sort $(wildcard upgrade/$(EXTENSION)--*.sql))

REGRESS     = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=.

ISOLATION   = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --inputdir=.

PG_CPPFLAGS = -Isrc
SHLIB_LINK  += -lcrypto
# -Wextra is kept; the three exemptions are for warnings that the server's own
# headers trigger (unused parameters in inline functions and the like).
PG_CFLAGS   = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
# Warnings are errors only where the project's own checks ask for it
# (scripts/test, scripts/valgrind): a user building from source with a newer
# compiler must not fail on a warning that compiler has just learnt.
ifneq ($(filter 1 yes true,$(PG_TENANCY_WERROR)),)
PG_CFLAGS  += -Werror
endif

EXTRA_CLEAN = $(DATA_built) results regression.diffs regression.out

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS)
	cat $^ > $@

# PGXS does not track header dependencies: every object depends on them all.
$(OBJS): $(wildcard src/*.h)
