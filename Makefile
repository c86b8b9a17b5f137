# Multica-C: build, run the local stack, test, benchmark.
#
#   make run    deps + build + private Postgres + Apache Kafka + topics + migrations + 4 services
#   make test   unit and integration tests against a real Postgres and Apache Kafka
#   make test-unit  the unit suites alone (no Postgres, no broker), in seconds
#   make lint   clang-format, cppcheck and shellcheck; fails on any finding
#
# BUILD selects the output tree; test-asan uses build/asan with ASan + UBSan.

BUILD    ?= build
CC       ?= gcc
PKGS     := libulfius liborcania libyder jansson libpq rdkafka libmicrohttpd uuid libjwt gnutls
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

LIB_DIRS := $(wildcard libs/*)
INCLUDES := $(addprefix -I,$(LIB_DIRS)) -I$(BUILD)/gen
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral
OPT      ?= -O2 -g
SAN      ?=
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SAN) $(INCLUDES) $(PKG_CFLAGS) -MMD -MP -pthread
LDFLAGS  += $(SAN) -pthread
LDLIBS   += $(PKG_LIBS) -lm

V ?= 0
Q := $(if $(filter 1,$(V)),,@)

OBJ := $(BUILD)/obj
BIN := $(BUILD)/bin

# ---- generated tables: migrations and schemas compiled into every binary ----
MIGRATION_FILES := $(sort $(wildcard migrations/*/*.sql migrations/*/functions/*.sql))
SCHEMA_FILES    := $(sort $(wildcard proto/schemas/*.json))
EMBED           := $(BUILD)/tools/embed
GEN_SRC         := $(BUILD)/gen/migrations_embedded.c $(BUILD)/gen/schemas_embedded.c

$(EMBED): tools/embed/embed.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=c11 -O1 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/gen/migrations_embedded.c: $(EMBED) $(MIGRATION_FILES)
	@mkdir -p $(dir $@)
	@echo "  GEN  $@"
	$(Q)$(EMBED) migrations $@ $(MIGRATION_FILES)

$(BUILD)/gen/schemas_embedded.c: $(EMBED) $(SCHEMA_FILES)
	@mkdir -p $(dir $@)
	@echo "  GEN  $@"
	$(Q)$(EMBED) schemas $@ $(SCHEMA_FILES)

# The gateway's web page (web/), compiled into the gateway alone.
WEB_FILES := $(sort $(wildcard web/*.html web/*.js web/*.css web/*.svg))
$(BUILD)/gen/web_embedded.c: $(EMBED) $(WEB_FILES)
	@mkdir -p $(dir $@)
	@echo "  GEN  $@"
	$(Q)$(EMBED) web $@ $(WEB_FILES)

# ---- the shared library archive ----
LIB_SRC := $(wildcard libs/*/*.c)
LIB_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(LIB_SRC)) $(patsubst $(BUILD)/gen/%.c,$(OBJ)/gen/%.o,$(GEN_SRC))
LIBMC   := $(BUILD)/libmc.a

$(OBJ)/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIBMC): $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

# ---- services and tools: one binary per folder ----
SERVICES := api-gateway task-dispatcher usage-ingester rollup-scheduler
TOOLS    := migrate $(notdir $(wildcard tools/backfill-usage tools/daemon-sim))

define binary
$(BIN)/multica-$(2): $$(patsubst %.c,$$(OBJ)/%.o,$$(wildcard $(1)/$(2)/*.c)) $$(LIBMC)
	@mkdir -p $$(dir $$@)
	@echo "  LD   $$@"
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call binary,services,$(s))))
$(BIN)/multica-api-gateway: $(OBJ)/gen/web_embedded.o
$(foreach t,$(TOOLS),$(eval $(call binary,tools,$(t))))

BINARIES := $(addprefix $(BIN)/multica-,$(SERVICES) $(TOOLS))

# ---- tests: one Check runner holding unit and integration suites ----
TEST_SRC := $(wildcard tests/unit/*.c tests/integration/*.c tests/support/*.c)
TEST_BIN := $(BUILD)/tests/multica-tests
$(TEST_BIN): CFLAGS += -Itests/support
$(TEST_BIN): $(patsubst %.c,$(OBJ)/%.o,$(TEST_SRC)) $(LIBMC)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs check)
$(patsubst %.c,$(OBJ)/%.o,$(TEST_SRC)): CFLAGS += -Itests/support $(shell pkg-config --cflags check)

.PHONY: all build deps run stop demo test test-unit test-asan bench lint format clean image \
        check-deploy check-docs screenshots
all: build
build: $(BINARIES)

deps:
	@tools/deps.sh

run: deps
	@$(MAKE) --no-print-directory build
	@tools/devstack.sh start

stop:
	@tools/devstack.sh stop

demo: build
	@tools/demo.sh

# CK_RUN_SUITE=suite narrows the run; the runner starts its own Postgres and broker.
test: deps
	@$(MAKE) --no-print-directory build $(TEST_BIN)
	@tools/run-tests.sh $(BUILD)

# The web page's browser test alone, keeping its screenshots for the docs.
screenshots: deps
	@$(MAKE) --no-print-directory build $(TEST_BIN)
	@CK_RUN_SUITE=web WEB_SCREENSHOTS=$(CURDIR)/docs/images tools/run-tests.sh $(BUILD)

# Only the unit suites: no Postgres, no broker, no service binaries; a few seconds.
test-unit: deps
	@$(MAKE) --no-print-directory $(TEST_BIN)
	@tools/run-tests.sh $(BUILD) --unit

test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

# ---- self-hosting: the image, and the checks of deployment files and docs against the code ----
IMAGE ?= multica-c:local

image:
	@if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then \
	    echo "make image: no Docker engine answers here ('docker info' failed), so the image" >&2; \
	    echo "cannot be built on this machine. On a machine running Docker:" >&2; \
	    echo "    docker build -t $(IMAGE) ." >&2; \
	    echo "'make check-deploy' checks what can be checked without an engine." >&2; \
	    exit 1; \
	fi
	docker build -t $(IMAGE) .

check-deploy: deps
	@$(MAKE) --no-print-directory build
	@BIN=$(BIN) tools/check-deploy.sh

check-docs:
	@tools/check-docs.sh

# The pinned clang-format that tools/deps.sh installs from PyPI (see .clang-format).
MULTICA_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/multica-c
CLANG_FORMAT  ?= $(MULTICA_CACHE)/venv/bin/clang-format
C_SOURCES      = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find libs services tools tests bench -name '*.[ch]')

# clang-format, cppcheck and shellcheck; any finding fails (the deploy suite runs it too).
lint:
	@MULTICA_CACHE=$(MULTICA_CACHE) CLANG_FORMAT=$(CLANG_FORMAT) tools/lint.sh

format:
	$(CLANG_FORMAT) -i $(C_SOURCES)

clean:
	rm -rf build

# ---- bench ----
# Benchmark programs (bench/*.c, linked like the services) into $(BUILD)/bench; `make bench`
# builds them and the services, then bench/run.sh measures (see docs/PERFORMANCE.md).
BENCH_DIR   := $(BUILD)/bench
# Every bench/NAME.c but the shared util is a program multica-bench-NAME (naive_consumer.c: naive).
BENCH_PROGS := naive $(filter-out bench_util naive_consumer,$(basename $(notdir $(wildcard bench/*.c))))
BENCH_BINS  := $(addprefix $(BENCH_DIR)/multica-bench-,$(BENCH_PROGS))
BENCH_UTIL  := $(OBJ)/bench/bench_util.o
# Reached only through the pattern rule below: keep them, or make deletes them as intermediate.
.SECONDARY: $(patsubst bench/%.c,$(OBJ)/bench/%.o,$(wildcard bench/*.c))

$(BENCH_DIR)/multica-bench-naive: $(OBJ)/bench/naive_consumer.o $(BENCH_UTIL) $(LIBMC)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BENCH_DIR)/multica-bench-%: $(OBJ)/bench/%.o $(BENCH_UTIL) $(LIBMC)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench: deps
	@$(MAKE) --no-print-directory build $(BENCH_BINS)
	@bench/run.sh $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
