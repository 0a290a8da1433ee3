# Two-stage build: the release binary on a slim Debian runtime, run as a non-root user.
#   docker build -t h2gate .
#   docker run -p 8443:8443 h2gate                      # the demo, on all of the container's interfaces
#   docker run -p 8443:8443 -v "$PWD/certs:/app/certs:ro" -v "$PWD/my.toml:/app/config/gateway.toml:ro" h2gate
FROM rust:1-slim-bookworm AS build
WORKDIR /src

# Dependencies first, in a layer of their own: it is rebuilt only when the manifests, the lock
# file or the demo's protos change, not on every source edit. Placeholder sources stand in for
# the crate's own code (every target Cargo.toml names must exist).
COPY Cargo.toml Cargo.lock ./
COPY demo/Cargo.toml demo/build.rs demo/
COPY demo/proto demo/proto
RUN mkdir -p src/bin/h2gate demo/src bench benches \
    && echo 'fn main() {}' > src/bin/h2gate/main.rs \
    && touch src/lib.rs demo/src/lib.rs \
    && echo 'fn main() {}' > bench/soak_mix.rs \
    && echo 'fn main() {}' > benches/routing.rs \
    && echo 'fn main() {}' > benches/transcoding.rs \
    && cargo build --release --locked \
    && rm -rf src demo/src bench benches

# The sources; touched so cargo sees them newer than the placeholders it built.
COPY . .
RUN touch src/lib.rs src/bin/h2gate/main.rs demo/src/lib.rs \
    && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin h2gate
WORKDIR /app
COPY --from=build /src/target/release/h2gate /usr/local/bin/h2gate
COPY config ./config
COPY demo/proto ./demo/proto
# Mount real certificates here (read-only is enough): -v "$PWD/certs:/app/certs:ro".
RUN mkdir -p certs
USER 10001
EXPOSE 8443 9901 50051
ENTRYPOINT ["h2gate"]
# config/gateway.toml listens on 127.0.0.1, which inside a container no published port
# reaches: the image listens on all of the container's interfaces instead.
CMD ["serve", "--listen", "0.0.0.0:8443"]
