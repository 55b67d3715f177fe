# sessionize: PGXS build
EXTENSION  = sessionize sessionize_proxy
MODULE_big = sessionize
OBJS       = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA       = $(wildcard sql/sessionize--*.sql) proxy/sessionize_proxy--0.6.sql
SCRIPTS    = move/sessionize-move
PG_CPPFLAGS = -I$(srcdir)/src

REGRESS      = setup streams alter argtypes rules clock long input typed query timestamps names arrays offsets sink userevent custom aggregate search_path security partitions future replay deadletter attach eventtime sources timers cluster
ISOLATION    = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))

# TAP tests (PGXS tests TAP_TESTS with ifdef, so set it only when t/ has some)
ifneq ($(wildcard t/*.pl),)
TAP_TESTS    = 1
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): src/sessionize.h src/compat.h

# sessionize-feed (feed/), a client program: built, installed into
# PostgreSQL's bindir and cleaned with the extension, by a sub-make.
.PHONY: feed install-feed uninstall-feed clean-feed
all: feed
feed:
	$(MAKE) -C feed PG_CONFIG=$(PG_CONFIG)
install: install-feed
install-feed: feed
	$(MAKE) -C feed install PG_CONFIG=$(PG_CONFIG)
uninstall: uninstall-feed
uninstall-feed:
	$(MAKE) -C feed uninstall PG_CONFIG=$(PG_CONFIG)
clean: clean-feed
clean-feed:
	$(MAKE) -C feed clean PG_CONFIG=$(PG_CONFIG)
