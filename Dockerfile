# syntax=docker/dockerfile:1.7
#
# The scout image: one binary, every service. The Helm chart (helm/scout)
# runs `scout serve <service> --config /etc/scout/scout.toml` per Deployment
# and `scout migrate` as its pre-install/pre-upgrade hook.
#
#   docker build -t scout:0.1.0 .
#
# Stages:
#   web      Node 20 builds the web app (scripts/build-web.sh) into web/dist;
#   builder  Rust compiles `scout` with web/dist embedded (services/edge/build.rs
#            reads it at compile time, so the web app must be built first);
#   runtime  debian:bookworm-slim, the shared libraries the binary links (the
#            Debian 12 FFmpeg 5.1 it was built against), espeak-ng and the
#            Noto CJK fonts, user 10001.
#
# The GPU variant is Dockerfile.gpu (the `nvidia` cargo feature). Keep the
# two runtime package blocks identical: scripts/check-image.sh compares them
# and checks the list against what `ldd` says the binary needs.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- web: the web app, built once, embedded by the edge ---------------------
FROM ${NODE_IMAGE} AS web
WORKDIR /src
COPY scripts/ scripts/
COPY proto/ proto/
COPY web/ web/
RUN scripts/build-web.sh && test -f web/dist/index.html

# ---- builder: the release binary --------------------------------------------
FROM ${RUST_IMAGE} AS builder
# The -dev packages of scripts/install.sh (APT_PACKAGES): what the crates link
# (FFmpeg, libpq, SQLite, libjpeg-turbo) or need to build (librdkafka's cmake
# build with curl, SSL, SASL, zstd and lz4; clang for bindgen).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      pkg-config cmake clang libclang-dev \
      libcurl4-openssl-dev libssl-dev libsasl2-dev libzstd-dev liblz4-dev \
      libsqlite3-dev libpq-dev \
      libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev \
      libswscale-dev libswresample-dev libturbojpeg0-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
COPY --from=web /src/web/dist web/dist
# Extra cargo features, comma-separated (Dockerfile.gpu sets nvidia).
ARG CARGO_FEATURES=""
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin scout ${CARGO_FEATURES:+--features "$CARGO_FEATURES"} \
 && install -D -m 0755 target/release/scout /out/scout

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# BEGIN RUNTIME PACKAGES (scripts/check-image.sh reads this block: one package a line)
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libavcodec59 \
      libavfilter8 \
      libavformat59 \
      libavutil57 \
      libswresample4 \
      libswscale6 \
      libturbojpeg0 \
      libsqlite3-0 \
      libpq5 \
      espeak-ng \
      fonts-noto-cjk \
      fontconfig \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# END RUNTIME PACKAGES
# The service user (the chart's runAsUser); /var/lib/scout is the data
# directory (an emptyDir in the chart, where the root filesystem is read-only).
RUN groupadd --system --gid 10001 scout \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/scout --no-create-home \
      --shell /usr/sbin/nologin scout \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/scout
COPY --from=builder /out/scout /usr/local/bin/scout
# fontconfig (libass) writes its per-user cache under $XDG_CACHE_HOME: /tmp
# is writable in the chart's pods, the root filesystem is not.
ENV HOME=/var/lib/scout \
    XDG_CACHE_HOME=/tmp/.cache
WORKDIR /var/lib/scout
USER 10001:10001
# edge (the public port), identity, tasks, vision, render, publish.
EXPOSE 8080 50051 50052 50053 50054 50055
ENTRYPOINT ["scout"]
CMD ["serve", "edge"]
