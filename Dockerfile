# syntax=docker/dockerfile:1
# The outbox binary (`outbox migrate`, `outbox relay`, ...) on Alpine.
#
#   docker build -t scylla-outbox:local .
#
# Used by docker-compose.yml for the migrate and relay services.

# Build on the build host's platform and cross-compile for the target's, so
# multi-platform builds do not run the Go toolchain under emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags='-s -w' -o /out/outbox ./cmd/outbox

FROM alpine:3.22
# ca-certificates for TLS to ScyllaDB and Kafka. wget, used by the compose
# healthcheck on /readyz, is busybox's, part of the base image.
RUN apk add --no-cache ca-certificates \
    && addgroup -S -g 10001 outbox \
    && adduser -S -D -H -u 10001 -G outbox -s /sbin/nologin outbox
COPY --from=build /out/outbox /usr/local/bin/outbox
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["outbox"]
CMD ["relay"]
