# Dockerfile: one image holding the four Multica-C services and the operator tools
# (multica-migrate, multica-backfill-usage); the first argument picks what runs:
#
#   docker build -t multica-c:local .                        (or `make image`)
#   docker build --build-arg DEBIAN_RELEASE=trixie -t multica-c:trixie .
#   docker run --rm multica-c:local help
#   docker run --rm multica-c:local api-gateway --version
#   docker run --rm -e DATABASE_URL=... multica-c:local migrate status
#
# The package lists come from tools/deps.sh (`--list build`, `--list runtime`), the same
# lists a developer machine uses; tools/check-deploy.sh verifies the runtime list against the
# libraries `ldd` finds in the binaries. deps.sh picks the names of the release it runs on
# (bookworm or trixie here; /etc/os-release of the stage's base image).
# VERSION and COMMIT end up in --version and multica_build_info: the build context holds no
# .git, so `make image` passes `git describe` and the commit id; without them, "unknown".
ARG DEBIAN_RELEASE=bookworm

# ---- build stage: compilers and -dev packages, `make build` ----
FROM debian:${DEBIAN_RELEASE} AS build
ARG VERSION=unknown
ARG COMMIT=unknown
WORKDIR /src
COPY tools/deps.sh tools/deps.sh
# The package list is one word per package on purpose.
# hadolint ignore=SC2046
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        $(tools/deps.sh --list build) \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN make -j"$(nproc)" VERSION="${VERSION}" COMMIT="${COMMIT}" build \
    && strip --strip-debug build/bin/multica-*

# ---- runtime stage: shared libraries only, non-root ----
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG VERSION=unknown
LABEL org.opencontainers.image.title="multica-c" \
      org.opencontainers.image.description="Multica-C services: api-gateway, task-dispatcher, usage-ingester, rollup-scheduler, plus multica-migrate and multica-backfill-usage" \
      org.opencontainers.image.version="${VERSION}"
COPY tools/deps.sh /tmp/deps.sh
# hadolint ignore=SC2046
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        $(/tmp/deps.sh --list runtime) \
    && rm -rf /var/lib/apt/lists/* /tmp/deps.sh \
    && groupadd --system --gid 10001 multica \
    && useradd --system --uid 10001 --gid multica --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin multica
COPY --from=build /src/build/bin/multica-api-gateway \
                  /src/build/bin/multica-task-dispatcher \
                  /src/build/bin/multica-usage-ingester \
                  /src/build/bin/multica-rollup-scheduler \
                  /src/build/bin/multica-migrate \
                  /src/build/bin/multica-backfill-usage \
                  /usr/local/bin/
COPY deploy/docker-entrypoint.sh /usr/local/bin/multica-entrypoint
USER 10001:10001
EXPOSE 8080 8081 8082 8083
ENTRYPOINT ["/usr/local/bin/multica-entrypoint"]
CMD ["help"]
