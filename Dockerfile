# drydock's image: a static musl binary on distroless (no shell, no package manager), running as non-root.
# Not built in CI here (no container engine on this machine); `docker build -t drydock:dev .` elsewhere.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin drydock

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/release/drydock /drydock
USER 65532:65532
ENTRYPOINT ["/drydock"]
CMD ["run"]
