# pg_notary -- PGXS build.
#
#   make && sudo make install                     build and install
#   make installcheck                              regress + isolation + TAP
#                                                  against $PGHOST/$PGPORT
#   make installcheck ISOLATION= TAP_TESTS=        only one suite: empty the
#                                                  others on the command line
#
# Everything uses ':=' on purpose: PGXS tests these variables with 'ifdef',
# and a recursively expanded variable whose value is an empty $(wildcard)
# still counts as defined.

PG_CONFIG ?= pg_config

# --- the loadable module ---------------------------------------------------
# Every src/*.c is part of the server module.  A future command-line program
# must NOT put its sources in src/ (or must filter-out them here): PGXS
# shares OBJS between MODULE_big and PROGRAM, so the CLI needs its own rules
# or its own sub-make (e.g. cli/Makefile), hooked in below PGXS.
MODULE_big := pg_notary
OBJS       := $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The control file lives in extension/.  PGXS installs
# "$(EXTENSION).control" by copying it into $(sharedir)/extension/, so a
# path here works; DATA files are installed by basename as well.
EXTENSION  := extension/pg_notary
DATA       := $(sort $(wildcard extension/pg_notary--*.sql))

PG_CPPFLAGS := -Isrc
PG_CFLAGS   := -Wall -Werror
SHLIB_LINK  += -lsodium

# ASSERTS=1 compiles pg_notary's Assert()s in (Debian's server has none of
# its own): tests/run builds so, and a broken invariant then fails a test
# instead of going on quietly.  Installs are built without.  A stamp file
# per mode rebuilds every object when the mode changes (below PGXS).
ifeq ($(ASSERTS),1)
PG_CPPFLAGS += -DUSE_ASSERT_CHECKING
BUILD_MODE  := assert
else
BUILD_MODE  := release
endif
BUILD_STAMP := .build-$(BUILD_MODE)

# --- tests -----------------------------------------------------------------
# pg_regress: sql/NAME.sql, expected/NAME.out (repo root).
REGRESS      := $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS := --inputdir=.

# pg_isolation_regress: tests/isolation/specs/NAME.spec and
# tests/isolation/expected/NAME.out; output goes to ./output_iso/.
ISOLATION_SPECS := $(sort $(wildcard tests/isolation/specs/*.spec))
ifneq ($(ISOLATION_SPECS),)
ISOLATION      := $(basename $(notdir $(ISOLATION_SPECS)))
ISOLATION_OPTS := --inputdir=tests/isolation
endif

# TAP (prove) tests: tests/t/*.pl, run by PGXS's prove_installcheck, which
# honours PROVE_TESTS (default would be t/*.pl).  Each test makes its own
# clusters with PostgreSQL::Test::Cluster.
PROVE_TESTS := $(sort $(wildcard tests/t/*.pl))
ifneq ($(PROVE_TESTS),)
TAP_TESTS := 1
endif

EXTRA_CLEAN := results/ regression.diffs regression.out output_iso/ \
	tmp_check/ tmp_check_iso/ log/ .build-assert .build-release

# Rebuild an object when a header it includes changes (src/*.h are shared
# by most files; a struct changed under a stale object crashed the server
# once).  PGXS does this only for a PostgreSQL configured with
# --enable-depend, which Debian's is not.
override autodepend := yes

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# (made when the Makefile is read: PGXS declares every target .SECONDARY,
# so a missing stamp as a prerequisite would not force a rebuild)
ifeq ($(wildcard $(BUILD_STAMP)),)
$(shell rm -f .build-assert .build-release; touch $(BUILD_STAMP))
endif
$(OBJS): $(BUILD_STAMP)

# --- notary-verify, the independent verifier (cli/) -------------------------
# Its own sub-make (see the note on OBJS above): cli/Makefile builds it from
# cli/*.c only, links libpq, libsodium and jansson, and installs it into
# $(bindir) of the same pg_config.
all: notary-verify
install: install-notary-verify
clean: clean-notary-verify

notary-verify:
	$(MAKE) -C cli PG_CONFIG=$(PG_CONFIG)
install-notary-verify: notary-verify
	$(MAKE) -C cli install PG_CONFIG=$(PG_CONFIG)
clean-notary-verify:
	$(MAKE) -C cli clean PG_CONFIG=$(PG_CONFIG)

.PHONY: notary-verify install-notary-verify clean-notary-verify
