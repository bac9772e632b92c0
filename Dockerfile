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

ARG RUST_VERSION=1.95

# --- build: the same command a developer runs, plus static linking ---------------------------
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The demo embeds the shipped suites.
COPY suites ./suites
# crt-static links glibc statically; an explicit --target keeps build scripts and proc macros
# dynamic (they cannot be static). The check fails the build if the result is not static.
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
 && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" \
 && cp "target/$target/release/netspec" /netspec \
 && if ldd /netspec >/dev/null 2>&1; then echo "netspec is not statically linked" >&2; exit 1; fi \
 && /netspec --version

# --- runtime: nothing but the binary ----------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /netspec /usr/local/bin/netspec
USER 65532:65532
WORKDIR /results
VOLUME ["/suites", "/results"]
ENTRYPOINT ["/usr/local/bin/netspec"]
CMD ["--help"]
