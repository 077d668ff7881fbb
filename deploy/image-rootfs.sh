#!/bin/sh
# Stages the container image's files for the Dockerfile (FROM scratch) in
# STAGE, taking them from this machine's Debian packages so that building
# the image needs no registry:
#
#   STAGE/rootfs/etc/ssl/certs/ca-certificates.crt   ca-certificates
#   STAGE/rootfs/usr/share/zoneinfo/                 tzdata
#   STAGE/rootfs/bin/busybox, /bin/sh and the other
#     applets as symlinks to it (like busybox --install -s)   busybox-static
#   STAGE/rootfs/etc/passwd, /etc/group              root, nobody and vigil (65532)
#   STAGE/rootfs/etc/nsswitch.conf                   /etc/hosts before DNS
#   STAGE/rootfs/tmp                                 mode 1777, for scripts
#   STAGE/state/                                     empty; becomes /var/lib/vigil, owned by 65532
#
# The image task (Taskfile.yml) runs this, then builds the server binary
# into STAGE/rootfs/usr/local/bin/vigil and runs
# `docker build -f Dockerfile STAGE`. Only STAGE/rootfs and STAGE/state are
# replaced; anything else in STAGE is left alone.
set -eu

stage=${1:?usage: deploy/image-rootfs.sh STAGE_DIR}
root=$stage/rootfs

# What the image takes from the host, and the Debian package providing it.
missing=
for need in /etc/ssl/certs/ca-certificates.crt:ca-certificates \
  /usr/share/zoneinfo/UTC:tzdata \
  /bin/busybox:busybox-static; do
  [ -e "${need%%:*}" ] || missing="$missing ${need#*:}"
done
# The busybox package also installs /bin/busybox, linked against the C
# library, which does not exist in the image: only busybox-static's runs.
if command -v dpkg-query >/dev/null 2>&1 &&
  [ "$(dpkg-query -W -f='${db:Status-Status}' busybox-static 2>/dev/null)" != installed ]; then
  case $missing in *busybox-static*) ;; *) missing="$missing busybox-static" ;; esac
fi
if [ -n "$missing" ]; then
  echo "image-rootfs.sh: the image needs files from these Debian packages:$missing" >&2
  echo "  apt-get install$missing" >&2
  exit 1
fi

rm -rf "$root" "$stage/state"
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" \
  "$root/usr/local/bin" "$root/usr/share" "$root/etc/ssl/certs" "$root/tmp" \
  "$stage/state"
chmod 1777 "$root/tmp"
chmod 0755 "$stage/state"

cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# -a keeps tzdata's symbolic and hard links (the posix/ and right/ trees).
cp -a /usr/share/zoneinfo "$root/usr/share/zoneinfo"

cp /bin/busybox "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
# Every applet this busybox has, at its usual path, as an absolute symlink
# (what `busybox --install -s` does on a live system).
"$root/bin/busybox" --list-full | while IFS= read -r applet; do
  case $applet in
  bin/busybox) ;;
  bin/* | sbin/* | usr/bin/* | usr/sbin/*) ln -s /bin/busybox "$root/$applet" ;;
  esac
done
if [ ! -L "$root/bin/sh" ]; then
  echo "image-rootfs.sh: /bin/busybox has no sh applet" >&2
  exit 1
fi

# The server's user; the numeric ids are what the Dockerfile's USER and
# the Kubernetes manifests name.
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
vigil:x:65532:65532:vigil:/var/lib/vigil:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
vigil:x:65532:
EOF
cat >"$root/etc/nsswitch.conf" <<'EOF'
hosts: files dns
EOF
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"
