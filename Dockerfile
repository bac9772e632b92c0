# syntax=docker/dockerfile:1
#
# netspec as a container image: a statically linked release binary on distroless/static (no
# shell, no libc, CA certificates included), running as the image's non-root user 65532.
# Suites are not baked in: mount them at run time.
#
#   docker build -t netspec .
#   docker run --rm -v "$PWD/suites:/suites:ro" -v "$PWD/results:/results" netspec \
#       run /suites --vantage site-a --json /results/site-a.json --junit /results/site-a.xml
#
# The results directory must be writable by uid 65532 (or run with --user).
#
# Path diagnosis (--path, docs/path-diagnosis.md: where a failed connection dies, who reset it)
# sends TCP SYN probes on raw sockets, which needs CAP_NET_RAW. Docker and Kubernetes make an
# added capability effective for root only, so for TCP SYN probes run
#   docker run --user 0 --cap-drop ALL --cap-add NET_RAW ...
# As uid 65532 netspec falls back to unprivileged UDP probes (the hops, not the TCP verdict)
# and says so once per run; `--path off` turns tracing off.

ARG RUST_VERSION=1.95

# --- build: the same command a developer runs, plus static linking ---------------------------
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Embedded at build time (include_str!): the shipped suites for the demo, the zone table.
COPY suites ./suites
COPY data ./data
# crt-static links glibc statically; an explicit --target keeps build scripts and proc macros
# dynamic (they cannot be static). The binary loses its debug line tables (84 MB → ~20 MB) and
# the build fails if the result is not static.
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
 && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" \
 && cp "target/$target/release/netspec" /netspec \
 && strip --strip-debug /netspec \
 && { ldd /netspec 2>&1 | grep -qE "statically linked|not a dynamic executable" || { echo "netspec is not statically linked" >&2; exit 1; }; } \
 && /netspec --version

# --- runtime: nothing but the binary ----------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /netspec /usr/local/bin/netspec
USER 65532:65532
WORKDIR /results
VOLUME ["/suites", "/results"]
ENTRYPOINT ["/usr/local/bin/netspec"]
CMD ["--help"]
