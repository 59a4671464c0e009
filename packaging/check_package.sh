#!/usr/bin/env bash
# ctest packaging.deb (label e2e): builds the .deb with CPack from the build tree and checks it:
#   * dpkg-deb -I: name, version, the runtime libraries declared (dpkg-shlibdeps), the maintainer
#     scripts and the conffiles;
#   * dpkg-deb -c: every file the service needs is in it, where the unit and the config say;
#   * the extracted package: `pinstream --version` names the commit, the installed config
#     validates with its queries found next to it, the maintainer scripts parse;
#   * systemd-analyze verify on the unit (offline: no running systemd is needed; ExecStart pointed
#     at the extracted binary, so that it exists without installing anything) and the sandbox's
#     exposure score from `systemd-analyze security --offline`.
# Nothing is installed on this machine.
#   packaging/check_package.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/pinstream-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/out/pinstream_*.deb)
echo "package: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

info=$(dpkg-deb -I "$deb")
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == pinstream ]] || fail "Package is '$(field Package)'"
[[ -n $(field Version) ]] || fail "no Version"
[[ -n $(field Maintainer) ]] || fail "no Maintainer"
depends=$(field Depends)
echo "Depends: $depends"
for lib in librocksdb libyaml-cpp librdkafka libssl3 libsystemd0 libsqlite3 libspdlog libfmt \
           libedit libsimdjson liblz4 libzstd libstdc++6 libc6; do
  [[ $depends == *"$lib"* ]] || fail "Depends does not declare $lib"
done
for script in postinst prerm postrm conffiles; do
  grep -q " $script" <<<"$info" || fail "the control archive has no $script"
done

mkdir "$work/control" "$work/root"
dpkg-deb -e "$deb" "$work/control"
for script in postinst prerm postrm; do
  [[ -x $work/control/$script ]] || fail "$script is not executable"
  sh -n "$work/control/$script" || fail "$script does not parse"
done
grep -q "systemd-sysusers /usr/lib/sysusers.d/pinstream.conf" "$work/control/postinst" ||
  fail "postinst does not create the pinstream user"
for f in /etc/pinstream/pinstream.yaml /etc/pinstream/queries/q1.sql /etc/pinstream/queries/q8.sql; do
  grep -qx "$f" "$work/control/conffiles" || fail "$f is not a conffile"
done

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/pinstream ./etc/pinstream/pinstream.yaml ./etc/pinstream/queries/q1.sql \
         ./etc/pinstream/queries/q8.sql ./lib/systemd/system/pinstream.service \
         ./usr/lib/sysusers.d/pinstream.conf ./usr/share/doc/pinstream/README.md \
         ./usr/share/pinstream/data/pinterest/pinterest_data_partial.jsonl \
         ./usr/share/pinstream/data/pinterest/geolocation_data.csv \
         ./usr/share/pinstream/data/pinterest/user_data.csv; do
  grep -qx "$f" <<<"$contents" || fail "the package has no $f"
done
echo "files: $(grep -cv '/$' <<<"$contents") (the service's files all present)"

dpkg-deb -x "$deb" "$work/root"
version=$("$work/root/usr/bin/pinstream" --version)
echo "$version"
[[ $version =~ ^pinstream\ [0-9.]+\ \(commit\ [0-9a-f]{7,}(-dirty)?\)$ ]] ||
  fail "--version does not name the commit: $version"
PINSTREAM_DATA_DIR="$work/data" "$work/root/usr/bin/pinstream" validate \
  "$work/root/etc/pinstream/pinstream.yaml" >"$work/validate.log" ||
  { cat "$work/validate.log"; fail "the installed config does not validate"; }
unit="$work/root/lib/systemd/system/pinstream.service"
grep -qx "ExecStart=/usr/bin/pinstream run /etc/pinstream/pinstream.yaml" "$unit" ||
  fail "ExecStart does not run the installed binary on the installed config"
grep -qx "User=pinstream" "$unit" && grep -qx "^u pinstream .*" "$work/root/usr/lib/sysusers.d/pinstream.conf" ||
  fail "the unit's user is not the one sysusers creates"

# The unit's syntax and directives, and that ExecStart runs: a copy whose ExecStart names the
# extracted binary (verify checks that the command exists; nothing is installed).
mkdir "$work/verify"
sed "s#^ExecStart=/usr/bin/pinstream #ExecStart=$work/root/usr/bin/pinstream #" "$unit" \
  >"$work/verify/pinstream.service"
if ! SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$work/verify/pinstream.service" \
    >"$work/verify.log" 2>&1; then
  cat "$work/verify.log"
  fail "systemd-analyze verify failed"
fi
if [[ -s $work/verify.log ]]; then
  cat "$work/verify.log"
  fail "systemd-analyze verify printed warnings"
fi
echo "systemd-analyze verify: ok"
score=$(systemd-analyze security --offline=yes "$work/verify/pinstream.service" 2>&1 |
  sed -n 's/.*Overall exposure level for [^ ]*: \([0-9.]*\) .*/\1/p')
echo "systemd-analyze security: exposure $score"
[[ $score =~ ^[0-9]+\.[0-9]$ ]] && awk -v s="$score" 'BEGIN { exit !(s + 0 <= 2.0) }' ||
  fail "the sandbox's exposure level is '$score' (want 2.0 or less: OK)"
echo "package ok"
