# syntax=docker/dockerfile:1

# Parquetry container image.
#
#   docker build -t parquetry .
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://... parquetry
#
# Four stages: cargo-chef computes a recipe of the workspace's dependencies
# (planner), builds only those dependencies in a layer that stays cached until
# Cargo.toml / Cargo.lock change (builder, `cook`), then builds the service
# itself; the runtime stage keeps just the binary on a slim Debian.

ARG RUST_VERSION=1.95
ARG CARGO_CHEF_VERSION=0.1.77

FROM rust:${RUST_VERSION}-bookworm AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# The C++ flags snappy is built with (see .cargo/config.toml), before the
# dependencies are: snappy is one of them.
COPY .cargo .cargo
# Dependencies only: this layer is reused as long as the recipe is unchanged.
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin parquetry

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed, non-root uid/gid; the data directory is created and owned by it
# *before* VOLUME, so a fresh named volume inherits that ownership.
RUN groupadd --system --gid 10001 parquetry \
    && useradd --system --uid 10001 --gid parquetry \
        --home-dir /var/lib/parquetry --no-create-home --shell /usr/sbin/nologin parquetry \
    && mkdir -p /var/lib/parquetry \
    && chown parquetry:parquetry /var/lib/parquetry
WORKDIR /app
COPY --from=builder /app/target/release/parquetry /usr/local/bin/parquetry
# Migrations (PostgreSQL and SQLite) are embedded in the binary (build.rs,
# src/jobs/migrations.rs): nothing else to copy.
ENV PARQUETRY_BIND=0.0.0.0:8080 \
    PARQUETRY_DATA_DIR=/var/lib/parquetry
VOLUME ["/var/lib/parquetry"]
EXPOSE 8080
USER parquetry
# actix-web shuts down gracefully on SIGTERM (docker stop's default signal).
ENTRYPOINT ["parquetry"]
CMD ["serve"]
