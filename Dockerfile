# Vigil (Go) container image: the static server binary on an empty base,
# with the few files the server and script probes need. Building it pulls
# nothing from any registry. Build it with the task, from the repository
# root, on a Debian or Ubuntu machine with Go and Docker:
#
#   go tool task image                         # the image vigil:local
#   go tool task image IMAGE=vigil:1.29.0-go   # another name
#
# The task (Taskfile.yml) first stages the image's files in bin/image
# (deploy/image-rootfs.sh: CA certificates, tzdata and busybox-static from
# the machine's Debian packages, /etc/passwd and /etc/group with the user
# vigil, 65532), builds the binary into it on the host (CGO_ENABLED=0,
# -trimpath, from the server's go.mod alone), then runs
#
#   docker build -t vigil:local -f Dockerfile bin/image
#
# so the build context is the staged directory, not the repository (a plain
# `docker build .` has nothing to copy). Missing packages are named:
# apt-get install ca-certificates tzdata busybox-static.
#
# Run it:
#
#   docker run -d --name vigil -p 8080:8080 \
#     -v "$PWD/vigil.cfg:/etc/vigil.cfg:ro" -v vigil-data:/var/lib/vigil vigil:local
#
# The configuration must listen on all interfaces inside the container:
#
#   [server]
#   inet = "0.0.0.0:8080"
#
# (the default, [::1]:8080, is loopback-only and unreachable through -p).
# More in deploy/README.md.
#
# Script probes (mode = "script") run /bin/sh, busybox's: the usual
# commands (awk, grep, sed, wget, nc, df, date, id, ...) are busybox applets
# linked under /bin, /sbin, /usr/bin and /usr/sbin; bash and curl are not
# in the image. Scripts run as the user vigil and may write to /tmp and
# /var/lib/vigil.
#
# ICMP probes (icmp:// replicas). The server runs as the non-root user
# vigil (65532) and picks the socket kind by itself: a raw socket when it
# holds CAP_NET_RAW, else an unprivileged ICMP socket, which the kernel allows
# only for groups inside net.ipv4.ping_group_range.
#
#   * Simple route (recommended): widen that range for the container's own
#     network namespace. Docker 20.10 and later already does so for
#     containers with their own network namespace (not --network host, not
#     with user-namespace remapping, not rootless); say it explicitly with
#
#       docker run --sysctl net.ipv4.ping_group_range="0 2147483647" ...
#
#   * Raw-socket route: `--cap-add NET_RAW` alone is NOT enough for a
#     non-root user. It only puts the capability in the container's bounding
#     set; the kernel clears the permitted and effective sets when a non-root
#     user executes a program, and Docker sets no ambient capabilities. The
#     binary would also need file capabilities (setcap cap_net_raw+ep on
#     /usr/local/bin/vigil), and such a binary then refuses to start (EPERM
#     at exec) in any container whose bounding set lacks NET_RAW, so this
#     image does not set them.

FROM scratch
# Static binary, busybox and its applets, CA certificates, tzdata, the
# user database, /tmp.
COPY rootfs/ /
# An empty state directory owned by vigil, so that a fresh named volume
# mounted there is writable by the server (Docker copies the owner).
COPY --chown=65532:65532 state/ /var/lib/vigil/
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Like the original image: relative paths in a configuration (assets.path =
# "./res/assets/") resolve here. The page is embedded in the binary; mount a
# directory at /usr/src/vigil/res/assets only to override single files.
WORKDIR /usr/src/vigil
# vigil:vigil, written numerically so that Kubernetes' runAsNonRoot can
# verify it without a runAsUser.
USER 65532:65532
EXPOSE 8080
# state.db (bbolt, locked: one server per volume).
VOLUME /var/lib/vigil
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["-c", "/etc/vigil.cfg", "--data-dir", "/var/lib/vigil"]
