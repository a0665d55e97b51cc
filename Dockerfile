# syntax=docker/dockerfile:1
# One image with all three binaries; pick one with the command:
#   docker run bookings-engine:local command-api | projector | query-api

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p command-api -p projector -p query-api \
 && mkdir -p /out \
 && cp target/release/command-api target/release/projector target/release/query-api /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin bookings
COPY --from=builder /out/command-api /out/projector /out/query-api /usr/local/bin/
USER bookings:bookings
ENV RUST_LOG=info \
    COMMAND_API_ADDR=0.0.0.0:8080 \
    QUERY_API_ADDR=0.0.0.0:8081 \
    PROJECTOR_ADDR=0.0.0.0:8082
EXPOSE 8080 8081 8082
CMD ["command-api"]
