# sessionize: PGXS build
EXTENSION  = sessionize
MODULE_big = sessionize
OBJS       = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA       = $(wildcard sql/sessionize--*.sql)
PG_CPPFLAGS = -I$(srcdir)/src

REGRESS      = setup streams alter rules clock long input typed query offsets sink userevent custom aggregate search_path security partitions future replay deadletter attach eventtime
ISOLATION    = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))

# TAP tests (PGXS tests TAP_TESTS with ifdef, so set it only when t/ has some)
ifneq ($(wildcard t/*.pl),)
TAP_TESTS    = 1
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): src/sessionize.h
