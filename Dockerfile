# drydock's image for builders with a registry: `docker build -t drydock:dev .` (or podman/buildah). A static
# musl binary on an empty base with only the CA bundle beside it, running as non-root. The final stage is
# image/Containerfile's, with `--from=` sources; `make image` builds that one here without pulling anything, and
# tests/image_files.rs fails when the two drift.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin drydock

FROM scratch
# The system roots for outbound HTTPS (notifications, Prometheus); the API server's own CA comes from the pod.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /src/target/release/drydock /drydock
LABEL org.opencontainers.image.title="drydock" \
      org.opencontainers.image.description="Kubernetes node-maintenance operator" \
      org.opencontainers.image.licenses="Apache-2.0"
# distroless' "nonroot": a uid with no account and no files of its own; config/manager runs it read-only.
USER 65532:65532
ENTRYPOINT ["/drydock"]
CMD ["run"]
