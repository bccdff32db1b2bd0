# syntax=docker/dockerfile:1
# moonwake's image: the static binary on scratch, run as the non-root user
# 65532. Multi-arch with buildx: the build stage runs on the builder's own
# platform and cross-compiles (CGO_ENABLED=0), so no emulation is needed.
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v0.1.0 -t moonwake .
# deploy/image builds the same image without Docker, and its test checks that
# it says what this file says.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
ARG BUILD_DATE=
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X github.com/moonwake/moonwake.Version=${VERSION} \
      -X github.com/moonwake/moonwake.Commit=${REVISION#unknown} -X github.com/moonwake/moonwake.BuildDate=${BUILD_DATE}" \
      -o /out/moonwake ./cmd/moonwake
# What scratch lacks for a Go server that runs as a user and makes TLS
# connections: CA certificates, a passwd entry, /tmp, and /data owned by the
# user (a new volume mounted there takes its owner).
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/data \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >/rootfs/etc/passwd \
 && echo 'nonroot:x:65532:' >/rootfs/etc/group \
 && chmod 1777 /rootfs/tmp \
 && chown 65532:65532 /rootfs/data

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
COPY --from=build /rootfs/ /
COPY --from=build /out/moonwake /moonwake
ENV MOONWAKE_DATA=/data
USER 65532:65532
EXPOSE 8080
LABEL org.opencontainers.image.title="moonwake" \
      org.opencontainers.image.description="Wake PCs with Wake-on-LAN, know their true power state, shut them down with proof" \
      org.opencontainers.image.source="https://github.com/moonwake/moonwake" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
ENTRYPOINT ["/moonwake"]
CMD ["serve"]
