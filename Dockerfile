# Vigil (Go) container image.
#
#   docker build -t vigil .
#   docker run -d --name vigil -p 8080:8080 \
#     -v "$PWD/vigil.cfg:/etc/vigil.cfg:ro" -v vigil-data:/var/lib/vigil vigil
#
# The configuration must listen on all interfaces inside the container:
#
#   [server]
#   inet = "0.0.0.0:8080"
#
# (the default, [::1]:8080, is loopback-only and unreachable through -p).
# More in deploy/README.md.
#
# ICMP probes (icmp:// replicas). The server runs as the non-root user
# nonroot (65532) and picks the socket kind by itself: a raw socket when it
# holds CAP_NET_RAW, else an unprivileged ICMP socket, which the kernel allows
# only for groups inside net.ipv4.ping_group_range.
#
#   * Simple route (recommended): widen that range for the container's own
#     network namespace. Docker 20.10 and later already does so for
#     containers with their own network namespace (not --network host, not
#     with user-namespace remapping); say it explicitly with
#
#       docker run --sysctl net.ipv4.ping_group_range="0 2147483647" ...
#
#   * Raw-socket route: `--cap-add NET_RAW` alone is NOT enough for a
#     non-root user. It only puts the capability in the container's bounding
#     set; the kernel clears the permitted and effective sets when a non-root
#     user executes a program, and Docker sets no ambient capabilities. The
#     binary also needs file capabilities, which means a derived image, e.g.
#     `setcap cap_net_raw+ep /usr/local/bin/vigil` in a stage that has
#     libcap2-bin, copied into the final stage. Such a binary then refuses to
#     start (EPERM at exec) in any container whose bounding set lacks
#     NET_RAW, so this image does not set file capabilities.
#
# Script probes run `/bin/sh`; this runtime image has no shell, so script
# nodes are dead here. Use a runtime stage with a shell (e.g.
# debian:bookworm-slim plus a non-root user) if you need them.

# Build stage. The tag is pinned to the Go minor release; append an
# @sha256:... digest to pin it completely.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts need BuildKit (the default builder since Docker 23).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/vigil ./cmd/vigil
# An empty state directory, copied below with its owner set to nonroot, so
# that a fresh named volume mounted there is writable by the server.
RUN mkdir -p /out/state

# Runtime stage: static binary, CA certificates, tzdata, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vigil /usr/local/bin/vigil
COPY --from=build --chown=65532:65532 /out/state /var/lib/vigil
# Like the original image: relative paths in a configuration (assets.path =
# "./res/assets/") resolve here. The page is embedded in the binary; mount a
# directory at /usr/src/vigil/res/assets only to override single files.
WORKDIR /usr/src/vigil
# nonroot:nonroot, written numerically so that Kubernetes' runAsNonRoot can
# verify it without a runAsUser.
USER 65532:65532
EXPOSE 8080
# state.db (bbolt, locked: one server per volume).
VOLUME /var/lib/vigil
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["-c", "/etc/vigil.cfg", "--data-dir", "/var/lib/vigil"]
