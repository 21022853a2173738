# Thin wrapper over Meson: `make demo` and `make test` are the README's two
# commands.  Everything real lives in meson.build files.

BUILD ?= build
MESON_TEST_ARGS ?= --print-errorlogs

.PHONY: all deps demo test test-asan test-tsan test-template bench install clean fuzz

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

test: all
	meson test -C $(BUILD) $(MESON_TEST_ARGS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	@bash .ci/install-deps
	[ -f $(BUILD)-asan/build.ninja ] || meson setup $(BUILD)-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(BUILD)-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(BUILD)-asan $(MESON_TEST_ARGS) --timeout-multiplier 3

# The whole suite under ThreadSanitizer (GLib lock hand-offs annotated: host/tsan.h).
test-tsan:
	@bash .ci/install-deps
	[ -f $(BUILD)-tsan/build.ninja ] || meson setup $(BUILD)-tsan -Db_sanitize=thread -Db_lundef=false
	ninja -C $(BUILD)-tsan
	G_SLICE=always-malloc TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
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
