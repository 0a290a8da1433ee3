# Two-stage build: the release binary on a slim Debian runtime with curl for health checks.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/target/release/h2gate /usr/local/bin/h2gate
COPY config ./config
COPY demo/proto ./demo/proto
COPY certs ./certs
EXPOSE 8443 50051
ENTRYPOINT ["h2gate"]
CMD ["serve"]
