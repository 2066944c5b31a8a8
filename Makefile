# postern: top-level build (GNU make).
#   make            build everything into build/
#   make deps       install the Debian packages the build and tests need
#   make test       deps + build + unit and integration tests
#   make check      unit and golden tests;  make check-asan: the same under ASan+UBSan
#   make run        deps + build + start postern under ./run/ as the current user
#   make install    PREFIX=/usr/local DESTDIR=
#   make deb        the Debian package, into build/deb/ (debian/)

PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR  = $(PREFIX)/sbin
BINDIR   = $(PREFIX)/bin
LIBEXECDIR = $(PREFIX)/libexec/postern
MANDIR   = $(PREFIX)/share/man
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc/postern

CC      ?= cc
BUILD   ?= build
PKGS     = libevent libevent_openssl openssl libbsd-overlay libsasl2 libunbound \
           libseccomp libidn2
CFLAGS  ?= -O2 -g
SAN     ?=
# The flags every object needs; CFLAGS stays the user's to override.
PST_CFLAGS = $(CFLAGS) $(SAN) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
           -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE \
           -I. -Ilib -Iconf -Imaps \
           -DLIBEXECDIR='"$(LIBEXECDIR)"' -DSYSCONFDIR='"$(SYSCONFDIR)"' \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PST_LDFLAGS = $(SAN) -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(LDFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcdb

LIB_SRCS  = $(wildcard lib/*.c conf/*.c maps/*.c)
OBJ       = $(BUILD)/obj
LIB_OBJS  = $(LIB_SRCS:%.c=$(OBJ)/%.o)
LIBPOSTERN = $(BUILD)/libpostern.a

# The delivery transports: the `.program = "NAME"` lines of the transport
# table (a new transport = one row there + its program directory).
TRANSPORTS := $(shell sed -n 's/^[[:space:]]*\.program = "\([a-z0-9_]*\)",.*/\1/p' conf/transport.c)
# One program per directory; master/ and tools/ together make `postern`,
# but for tools/postdrop.c: the setgid helper is a program of its own, so
# that the set-id binary is not also the admin CLI.
# tlscheck holds the config's TLS check (OpenSSL), so that postern and the
# resting master map no libcrypto. Everything but postern is installed
# under LIBEXECDIR.
PROGS = postern smtpd cleanup qmgr anvil showq postdrop tlscheck \
        $(TRANSPORTS)
LIBEXEC_PROGS = $(filter-out postern,$(PROGS))
$(foreach p,$(LIBEXEC_PROGS),$(eval $(p)_SRCS = $$(wildcard $(p)/*.c)))
postern_SRCS = $(filter-out tools/postdrop.c,$(wildcard master/*.c tools/*.c))
postdrop_SRCS = tools/postdrop.c
# A directory without sources yet builds nothing (keeps partial trees building).
PROG_BINS = $(foreach p,$(PROGS),$(if $($(p)_SRCS),$(BUILD)/$(p)))

UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

PY = /usr/bin/python3

# keep unit-test objects (make would otherwise delete them as intermediates)
.SECONDARY: $(UNIT_SRCS:tests/unit/%.c=$(OBJ)/tests/unit/%.o)
.PHONY: all deps test check check-asan check-valgrind integration run stop install clean fuzz fuzz-run bench chaos deb
all: $(PROG_BINS)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(PST_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBPOSTERN): $(LIB_OBJS)
	@mkdir -p $(dir $@); rm -f $@
	@if [ -n "$^" ]; then echo "ar rcs $@"; ar rcs $@ $^; else printf '!<arch>\n' > $@; fi

# The compiled-in paths follow PREFIX/SYSCONFDIR: objects that use them are
# rebuilt when they change (e.g. `make install PREFIX=/usr` after `make`).
PATHS_STAMP = $(OBJ)/paths.stamp
$(PATHS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(LIBEXECDIR) $(SYSCONFDIR)' | cmp -s - $@ || echo '$(LIBEXECDIR) $(SYSCONFDIR)' > $@
$(OBJ)/master/tlsexec.o $(OBJ)/conf/conf.o $(OBJ)/tools/sendmail.o \
    $(OBJ)/tools/postdrop.o: $(PATHS_STAMP)
FORCE:

.SECONDEXPANSION:
$(PROG_BINS): $(BUILD)/%: $$(addprefix $(OBJ)/,$$($$*_SRCS:.c=.o)) $(LIBPOSTERN)
	$(CC) $(PST_LDFLAGS) -o $@ $(filter %.o,$^) $(LIBPOSTERN) $(LDLIBS)

$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $(LIBPOSTERN)
	@mkdir -p $(dir $@)
	$(CC) $(PST_LDFLAGS) -o $@ $(filter %.o,$^) $(LIBPOSTERN) $(LDLIBS) -lcmocka

# Tests of a program's own module link that program's object.
$(BUILD)/tests/test_dsn: $(OBJ)/qmgr/dsn.o $(OBJ)/qmgr/stats.o
$(BUILD)/tests/test_sched: $(OBJ)/qmgr/sched.o $(OBJ)/qmgr/dest.o
$(BUILD)/tests/test_agentconn: $(OBJ)/qmgr/agentconn.o
$(BUILD)/tests/test_flush: $(OBJ)/qmgr/flush.o
$(BUILD)/tests/test_pool: $(OBJ)/master/pool.o
$(BUILD)/tests/test_cmdline: $(OBJ)/local/cmdline.o
$(BUILD)/tests/test_mailq: $(OBJ)/tools/queue.o $(OBJ)/tools/showq_client.o
# showq lists the queue with mailq's own code (mailq_list).
$(BUILD)/showq: $(OBJ)/tools/queue.o $(OBJ)/tools/showq_client.o
$(BUILD)/tests/test_mc_lex: $(OBJ)/tools/mc_lex.o
# test_mbox ends itself in the middle of making a dotlock (a kill -9).
$(BUILD)/tests/test_mbox: PST_LDFLAGS += -Wl,--wrap=write

# libFuzzer harnesses (tests/fuzz/fuzz_*.c) with ASan+UBSan; built, not
# run, by `make fuzz`:  build/fuzz/fuzz_addr -max_total_time=60
# `make fuzz-run` builds and runs each for FUZZ_RUNS executions from a
# copy of its seed corpus (tests/fuzz/README); any crash or leak fails it.
FUZZ_CC   ?= clang
FUZZ_SRCS  = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS  = $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_FLAGS = -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	   -I. -Ilib -Iconf -Imaps $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
fuzz: $(FUZZ_BINS)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)
# a harness of a program's own module compiles that module too
$(BUILD)/fuzz/fuzz_mc_lex: tools/mc_lex.c
FUZZ_RUNS ?= 1000000
fuzz-run: $(FUZZ_BINS)
	@sh tests/fuzz/run.sh $(FUZZ_RUNS) $(FUZZ_BINS)

deps:
	@sh tools/deps.sh

# unit tests, then the golden `postern check` diagnostics (tests/golden/check)
check: $(UNIT_BINS) $(BUILD)/postern
	@sh tests/unit/run.sh $(UNIT_BINS)
	@sh tests/golden/check/run.sh $(BUILD)/postern

check-asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" check

# Every unit-test binary under valgrind (memory errors and leaks fail it).
check-valgrind: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do \
	    valgrind -q --error-exitcode=9 --leak-check=full $$t >/dev/null || \
	    { echo "valgrind: $$t failed"; exit 1; }; done; echo "valgrind: clean"

integration: all
	cd tests/integration && POSTERN_BUILD=$(abspath $(BUILD)) $(PY) -m pytest -q -p no:cacheprovider -rs .

test: deps
	$(MAKE) all
	$(MAKE) check
	$(MAKE) check-asan
	$(MAKE) check-valgrind
	$(MAKE) integration

run: deps
	$(MAKE) all
	@sh tools/run.sh start

stop:
	@sh tools/run.sh stop

# Relay thousands of messages while killing workers and master with -9;
# prints accepted, delivered, lost, duplicated (fails if any is lost).
# Never part of `make test` (a short run is tests/integration/test_chaos.py).
chaos: all
	$(PY) tests/chaos/chaos.py --messages 5000 --sessions 8 --kills 40

# Side-by-side benchmark against Postfix and OpenSMTPD (bench/README.md).
# Never part of `make test`.
bench:
	@sh tools/deps.sh
	$(MAKE) all
	$(PY) bench/run.py

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(BUILD)/postern $(DESTDIR)$(SBINDIR)/postern
	ln -sf postern $(DESTDIR)$(SBINDIR)/sendmail
	ln -sf ../sbin/postern $(DESTDIR)$(BINDIR)/mailq
	ln -sf ../sbin/postern $(DESTDIR)$(BINDIR)/newaliases
	for p in $(LIBEXEC_PROGS); do \
	    install -m 0755 $(BUILD)/$$p $(DESTDIR)$(LIBEXECDIR)/$$p; done
	@# postdrop: setgid postdrop, the group made here when we are root
	@# and install into the system itself (as Debian's postfix postinst
	@# does; a package, DESTDIR set, makes it in its postinst); else a note
	if [ "$$(id -u)" = 0 ] && { [ -n "$(DESTDIR)" ] || \
	    getent group postdrop >/dev/null || \
	    groupadd --system postdrop; } && \
	    getent group postdrop >/dev/null; then \
	    chgrp postdrop $(DESTDIR)$(LIBEXECDIR)/postdrop && \
	    chmod 2755 $(DESTDIR)$(LIBEXECDIR)/postdrop; \
	else echo "note: not root: $(LIBEXECDIR)/postdrop is not setgid" \
	    "postdrop; only the postern user can keep mail while postern" \
	    "is down"; fi
	for m in $(wildcard */*.8); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man8/; done
	for m in $(wildcard */*.5); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/; done
	install -d $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(SYSCONFDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    master/postern.service.in > $(DESTDIR)$(SYSTEMDDIR)/postern.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/postern.service
	test -e $(DESTDIR)$(SYSCONFDIR)/postern.conf || \
	    install -m 0644 conf/postern.conf.sample $(DESTDIR)$(SYSCONFDIR)/postern.conf

# The Debian package: the tree (but build outputs and .git) is copied to
# build/deb/postern/ and built there with dpkg-buildpackage, so the
# checkout stays clean; build/deb/postern_VERSION_ARCH.deb is the result.
# DEB_BUILD_OPTIONS=nocheck skips the unit tests in the package build.
DEBDIR = $(BUILD)/deb
deb:
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null || \
	    { echo "deb: needs dpkg-dev and debhelper (make deps)" >&2; exit 1; }
	rm -rf $(DEBDIR) && mkdir -p $(DEBDIR)/postern
	tar -cf - --exclude=./build --exclude='./build-*' --exclude=./run \
	    --exclude=./.git --exclude=__pycache__ . | tar -C $(DEBDIR)/postern -xf -
	cd $(DEBDIR)/postern && env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u BUILD -u DESTDIR -u SAN \
	    dpkg-buildpackage -us -uc -b -jauto
	@ls $(DEBDIR)/*.deb

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
