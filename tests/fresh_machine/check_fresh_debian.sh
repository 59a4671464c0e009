#!/usr/bin/env bash
# Checks that a clone of this repository alone runs the README's two commands on a Debian 12 that
# has nothing but what .ci/deps installs (not part of .ci/test: it downloads a Debian system and
# builds everything again; tests/README.md "Fresh machine" records the runs).
#
#   sudo tests/fresh_machine/check_fresh_debian.sh [WORK_DIR] [CTEST_ARGS...]
#
# 1. mmdebstrap builds a minimal Debian 12 (variant minbase: dpkg, apt, coreutils, bash — no
#    compiler, no git, no python, no curl) from deb.debian.org (bookworm, -updates, -security);
# 2. the repository is cloned into it with `git clone` of this checkout's HEAD (committed files
#    only, no build tree, no data from outside the repository);
# 3. inside the chroot, as root: `.ci/demo 300` (the run command: it installs the packages through
#    .ci/deps and builds), then `.ci/test CTEST_ARGS` (the test command; default: the whole
#    suite);
# 4. the .deb the build makes is installed with apt (its declared dependencies resolve from the
#    mirror), the installed daemon runs as the `pinstream` user on the installed config and takes
#    posts from `pinstream emulate` (the installed data), and Debian's AWS CLI (package awscli,
#    installed only here) talks to a daemon that checks SigV4: the right secret works, a wrong
#    one gets InvalidSignatureException.
# Needs root (chroot, mounts) and network to the Debian mirror; installs mmdebstrap on this host.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/pinstream-fresh}
shift || true
ctest_args=("$@")
root="$work/root"

command -v mmdebstrap >/dev/null || apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
mkdir -p "$work"
if [[ ! -x $root/usr/bin/apt-get ]]; then
  rm -rf "$root"
  mmdebstrap --variant=minbase bookworm "$root" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
fi
echo "== the chroot has $(chroot "$root" dpkg-query -W | wc -l) packages before .ci/deps"
for tool in git gcc cmake python3 curl; do
  if chroot "$root" sh -c "command -v $tool" >/dev/null; then echo "unexpected: $tool is there"; exit 1; fi
done

rm -rf "$root/root/pinstream"
git clone -q --no-local "$src" "$root/root/pinstream"
echo "== cloned $(git -C "$root/root/pinstream" rev-parse --short HEAD): $(du -sh "$root/root/pinstream" | cut -f1)"

cleanup() {
  for m in dev/shm dev/pts dev sys proc; do
    mountpoint -q "$root/$m" && umount -l "$root/$m"
  done
}
trap cleanup EXIT
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount -t devpts devpts "$root/dev/pts"
mount -t tmpfs tmpfs "$root/dev/shm"
cp /etc/resolv.conf "$root/etc/resolv.conf"

in_chroot() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

echo "== .ci/demo 300 (the run command)"
in_chroot bash -c 'cd /root/pinstream && time .ci/demo 300'
echo "== .ci/test ${ctest_args[*]} (the test command)"
in_chroot bash -c "cd /root/pinstream && time .ci/test ${ctest_args[*]}"

echo "== the .deb, installed with apt"
in_chroot bash -c 'cd /root/pinstream/build && rm -f pinstream_*.deb && cpack -G DEB >/dev/null &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./pinstream_*.deb >/dev/null &&
  dpkg -s pinstream | grep -E "^(Status|Version|Depends):" && getent passwd pinstream &&
  ls -l /etc/pinstream /lib/systemd/system/pinstream.service && pinstream --version'
in_chroot bash -c 'set -e
  rm -rf /var/lib/pinstream && mkdir /var/lib/pinstream && chmod 0750 /var/lib/pinstream
  chown pinstream:pinstream /var/lib/pinstream  # what StateDirectory= does under systemd
  cd /tmp
  PINSTREAM_DATA_DIR=/var/lib/pinstream setpriv --reuid=pinstream --regid=pinstream --init-groups \
    pinstream run /etc/pinstream/pinstream.yaml 2>/tmp/installed.log &
  pid=$!
  for i in $(seq 600); do curl -sf http://127.0.0.1:8082/ready >/dev/null && break; sleep 0.1; done
  pinstream emulate --posts 50 --quiet
  for i in $(seq 600); do
    n=$(pinstream sql -d /var/lib/pinstream --format csv "SELECT count(*) FROM pin_raw" 2>/dev/null | tail -1)
    [ "$n" = 50 ] && break; sleep 0.1; done
  echo "installed daemon: pin_raw has $n rows"; kill -TERM $pid; wait $pid; [ "$n" = 50 ]'

echo "== Debian's AWS CLI against SigV4 verification"
in_chroot bash -c 'set -e
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends awscli >/dev/null
  rm -rf /tmp/sig && mkdir /tmp/sig && cd /tmp/sig && echo "cli/Secret+0123456789" > secret
  cat > sig.yaml <<EOF
data_dir: /tmp/sig/data
http:
  listen: 127.0.0.1:8083
  streams: [s]
  auth: {aws_sigv4: {region: us-east-1, access_keys: [{id: AKIACLITEST, secret_file: secret}]}}
sources: {s: {kind: http, stream: s}}
queries: [{name: q, source: s, operators: [{kind: cast, columns: {value: string}}], sink: {kind: delta, table: t}}]
EOF
  pinstream run sig.yaml 2>sig.log & pid=$!
  for i in $(seq 600); do curl -sf http://127.0.0.1:8083/ready >/dev/null && break; sleep 0.1; done
  export AWS_ACCESS_KEY_ID=AKIACLITEST AWS_DEFAULT_REGION=us-east-1
  AWS_SECRET_ACCESS_KEY=$(cat secret) aws --endpoint-url http://127.0.0.1:8083 kinesis put-record \
    --stream-name s --partition-key p --data aGVsbG8= --output json
  if AWS_SECRET_ACCESS_KEY=wrong aws --endpoint-url http://127.0.0.1:8083 kinesis list-streams 2>err.txt; then
    echo "a wrong secret was accepted"; exit 1; fi
  cat err.txt; grep -q InvalidSignatureException err.txt
  aws --version; kill -TERM $pid; wait $pid'
echo "== fresh Debian 12: ok"
