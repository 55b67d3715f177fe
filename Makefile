# sessionize: PGXS build
EXTENSION  = sessionize
MODULE_big = sessionize
OBJS       = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA       = $(wildcard sql/sessionize--*.sql)
PG_CPPFLAGS = -I$(srcdir)/src

REGRESS      = setup streams rules clock input offsets sink userevent replay
ISOLATION    = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
TAP_TESTS    = $(if $(wildcard t/*.pl),1,)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): src/sessionize.h
