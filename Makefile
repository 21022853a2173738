# Thin wrapper over Meson: `make demo` and `make test` are the README's two
# commands.  Everything real lives in meson.build files.

BUILD ?= build
MESON_TEST_ARGS ?= --print-errorlogs

.PHONY: all deps demo demo-desktop demo-http demo-orders demo-cluster test test-asan test-tsan test-template bench install clean fuzz

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	bash .ci/install-deps

$(BUILD)/build.ninja:
	@bash .ci/install-deps
	meson setup $(BUILD)

# The stock plugins are found in the build tree, as installed ones would be
# in the plugin folder.
DEMO_PLUGIN_PATH = $(subst $(eval) ,:,$(foreach p,replay sqlite-store console dashboard,$(CURDIR)/$(BUILD)/plugins/$(p)))
# DEMO_ARGS=--exit-when-idle ends the demo when the script is done.
DEMO_ARGS ?=

demo: all
	@echo "== evbus demo: a search window (replay), a database (sqlite-store, async jobs) and a result"
	@echo "== view (console) talking only through the bus; the dashboard shows the jobs live."
	@echo "== When the script is done the host keeps serving the dashboard: press Ctrl-C to stop."
	EVBUS_PLUGIN_PATH=$(DEMO_PLUGIN_PATH) $(BUILD)/host/cli/evbus run config/demo.json $(DEMO_ARGS)

# The GTK desktop on your display: DESKTOP_MODE=sync runs the database on
# the main loop instead, and the windows freeze for each 400 ms query.
DESKTOP_MODE ?= async
DESKTOP_PLUGIN_PATH = $(subst $(eval) ,:,$(foreach p,desktop sqlite-store dashboard,$(CURDIR)/$(BUILD)/plugins/$(p)))

demo-desktop: all
	@test -f $(BUILD)/plugins/desktop/evbus-desktop.so || { echo "GTK 4 was not found when $(BUILD) was set up: make deps, then meson setup --reconfigure $(BUILD)"; exit 1; }
	@echo "== evbus desktop ($(DESKTOP_MODE)): search and results windows and a database (sqlite-store, 400 ms a query)"
	@echo "== talking only through the bus. Close the search window to stop; DESKTOP_MODE=sync shows the freeze."
	EVBUS_PLUGIN_PATH=$(DESKTOP_PLUGIN_PATH) $(BUILD)/host/cli/evbus run config/desktop-$(DESKTOP_MODE).json --exit-when-idle

# The search service and a webhook over HTTP (http-in, sqlite-store,
# http-out): starts the host, runs the README's curl lines, shows their
# output and the host's, stops it.  HTTP_DEMO_API / HTTP_DEMO_RECEIVER
# move the two listeners (default 127.0.0.1:18080 and :18081).
demo-http: all
	tests/plugins/http/demo-http.sh $(BUILD)

# A second pipeline, config/orders.json: file-in tails an inbox of JSON-line
# orders, a route filter sends those of 100.00 or more to a python3 script
# (exec) and the rest to a file, the priced orders go to file-out and SQLite
# (sql), with the dashboard.  Starts the host in a temporary work folder,
# feeds it, stops it, prints and checks what came out.
# ORDERS_DEMO_DASHBOARD moves the dashboard (default 127.0.0.1:8088);
# ORDERS_DEMO_HOLD=1 keeps the host up until Enter, to look at it.
demo-orders: all
	tests/config/demo-orders.sh $(BUILD)

# Work shared across hosts over NATS (plugins/nats): a nats-server with
# JetStream on a free loopback port in a temporary store, two worker hosts
# and a front host submitting JOBS (default 20) jobs; prints the jobs done
# per host and stops everything.
demo-cluster: all
	tests/plugins/nats/demo-cluster.sh $(BUILD)

test: all
	meson test -C $(BUILD) $(MESON_TEST_ARGS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	@bash .ci/install-deps
	[ -f $(BUILD)-asan/build.ninja ] || meson setup $(BUILD)-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(BUILD)-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(BUILD)-asan $(MESON_TEST_ARGS) --timeout-multiplier 3

# The whole suite under ThreadSanitizer (GLib hand-offs annotated:
# host/core/tsan.h, plugins/common/tsan.h).  ignore_noninstrumented_modules:
# accesses made inside GLib/GIO, which TSan does not instrument, are not
# checked, only evbus code is (lazily made GLib globals such as a GRWLock's
# pthread lock, published with atomics TSan cannot see, made every thread
# that uses GIO next to the main loop "race" with no evbus frame in it).
test-tsan:
	@bash .ci/install-deps
	[ -f $(BUILD)-tsan/build.ninja ] || meson setup $(BUILD)-tsan -Db_sanitize=thread -Db_lundef=false
	ninja -C $(BUILD)-tsan
	G_SLICE=always-malloc TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  meson test -C $(BUILD)-tsan $(MESON_TEST_ARGS) --timeout-multiplier 5

# libFuzzer targets (tests/fuzz), clang only: each runs FUZZ_SECONDS on a
# copy of its seed corpus; any crash, leak or UB fails (tests/fuzz/run).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = fuzz-config fuzz-filter fuzz-replay-line
fuzz:
	@bash .ci/install-deps
	[ -f $(BUILD)-fuzz/build.ninja ] || CC=clang meson setup $(BUILD)-fuzz -Dfuzz=true
	ninja -C $(BUILD)-fuzz $(addprefix tests/fuzz/,$(FUZZ_TARGETS))
	tests/fuzz/run $(BUILD)-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Builds sdk/template out of tree against a staged install, as a plugin
# author would: the plugin with `pkg-config evbus-1` (headers only, never
# -levbus-1: checked first), its test with `pkg-config evbus-harness-1`.
STAGE = $(CURDIR)/$(BUILD)-stage/prefix
test-template: all
	rm -rf $(BUILD)-stage
	meson setup $(BUILD)-stage/evbus --prefix=$(STAGE) --libdir=lib -Dtests=false >/dev/null
	meson install -C $(BUILD)-stage/evbus --quiet
	libs=$$(PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig pkg-config --libs evbus-1) && \
	  case "$$libs" in *-levbus*) echo "evbus-1.pc links the host: $$libs"; exit 1;; esac
	PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig meson setup $(BUILD)-stage/template sdk/template >/dev/null
	ninja -C $(BUILD)-stage/template
	LD_LIBRARY_PATH=$(STAGE)/lib meson test -C $(BUILD)-stage/template $(MESON_TEST_ARGS)

bench: all
	bench/run

install: all
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan
