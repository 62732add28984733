# The entra-source image (config-examples/kubernetes/): the binary at /usr/local/bin, on Debian
# slim so that the StatefulSet's init container can copy it (cp) into the Vector sidecar and the
# re-shard Job can run reshard.sh (sh). TLS roots are built in (rustls, webpki roots).
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin entra-source

FROM debian:bookworm-slim
COPY --from=build /src/target/release/entra-source /usr/local/bin/entra-source
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/entra-source"]
