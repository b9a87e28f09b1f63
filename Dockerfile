# syntax=docker/dockerfile:1
# paygraph service image: build with the Rust toolchain, run on a slim Debian
# base as an unprivileged user.
#
#   docker build -t paygraph .
#   docker run --rm -p 8080:8080 paygraph          # embedded SQLite default

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the registry and the build directory between builds;
# the binary is copied out because the cached target/ is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin paygraph \
 && cp target/release/paygraph /usr/local/bin/paygraph

FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to RDS, ElastiCache and the AWS APIs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 paygraph \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/paygraph \
      --create-home --shell /usr/sbin/nologin paygraph
COPY --from=builder /usr/local/bin/paygraph /usr/local/bin/paygraph

USER 10001:10001
# The embedded default (no DATABASE_URL) keeps its SQLite file here.
WORKDIR /var/lib/paygraph
ENV PAYGRAPH_ADDR=0.0.0.0:8080
EXPOSE 8080

# Liveness on /healthz. The image has bash but no curl: HTTP over /dev/tcp.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["/usr/local/bin/paygraph"]
CMD ["serve"]
