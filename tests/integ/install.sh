#!/bin/sh
# The install tree and the Debian package.  make install DESTDIR=... PREFIX=/usr
# from the programs already built (NOBUILD=1, from a copy in a scratch BUILD,
# so that make neither rebuilds nor reads build/'s dependency files), checked
# file by file: programs, unit (ExecStart= the installed flexd, Documentation=
# installed), sysusers.d, tmpfiles.d, man pages, docs, the configuration
# readable by its owner and group only, no test tools until install-tools;
# an edited configuration kept by a second install; uninstall; the default
# PREFIX.  Both man pages through man --warnings, naming every option and
# command of the usage texts.  make deb: its control data and contents, the
# package unpacked into a scratch root (programs that run, the user and
# /etc/flex made there by systemd-sysusers and systemd-tmpfiles --root, as
# root), apt's dependency check (a simulation) and lintian without errors.
# Installs nothing on this machine.  Exit 0 pass, 77 skip, 1 fail.
set -u
B=${BUILD:-build}
. tests/integ/lib/check.sh
for p in flexd flexctl flexbench smscsim httpsim; do
    [ -x "$B/$p" ] || { echo "$B/$p is not built (make)"; exit 77; }
done
tmp=$(mktemp -d /tmp/flex-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/build"
for p in flexd flexctl flexbench smscsim httpsim; do cp "$B/$p" "$tmp/build/"; done
# A make of its own: nothing of the make that runs the suite (MAKEFLAGS).
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s NOBUILD=1 \
    BUILD="$tmp/build" "$@" >>"$tmp/make.log" 2>&1; }
files() { (cd "$1" && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort); }
mode() { stat -c %a "$1"; }
skip() { echo "skip $1"; }

# --- make install PREFIX=/usr ----------------------------------------------
I=$tmp/inst
check "make install DESTDIR=... PREFIX=/usr" mk install DESTDIR="$I" PREFIX=/usr
U=$I/usr/lib/systemd/system/flexd.service
check "flexd in /usr/sbin, flexctl in /usr/bin, executable" \
    test -x "$I/usr/sbin/flexd" -a -x "$I/usr/bin/flexctl" -a ! -e "$I/usr/bin/flexd"
check "... the programs built" cmp -s "$I/usr/sbin/flexd" "$B/flexd"
check "the unit starts the installed flexd with /etc/flex/flexd.conf" \
    grep -qx 'ExecStart=/usr/sbin/flexd -c /etc/flex/flexd.conf' "$U"
check "... and checks the configuration with it first" \
    grep -qx 'ExecStartPre=/usr/sbin/flexd -c /etc/flex/flexd.conf --check-config' "$U"
check "... no path of another PREFIX left in it" sh -c "! grep -v '^#' '$U' | grep -q /usr/local"
check "... its hardening kept (only paths changed)" sh -c \
    "grep -v '^#' deploy/flexd.service | grep -v -e /usr/local -e '^Documentation=' >'$tmp/u1';
     grep -v '^#' '$U' | grep -v -e /usr/sbin/flexd -e '^Documentation=' >'$tmp/u2'; cmp -s '$tmp/u1' '$tmp/u2'"
# Documentation=: every man: page and file: URI is in the tree.
docs_ok() { # DESTDIR MANDIR UNIT MANEXT(""|".gz")
    doc=$(sed -n 's/^Documentation=//p' "$3")
    [ -n "$doc" ] || return 1
    for u in $doc; do
        case $u in
        man:*) n=${u#man:}; s=${n#*(}; s=${s%)}; n=${n%%(*}
            [ -f "$1$2/man$s/$n.$s$4" ] || { echo "  missing $u"; return 1; } ;;
        file://*) [ -f "$1${u#file://}" ] || { echo "  missing $u"; return 1; } ;;
        *) echo "  unexpected $u"; return 1 ;;
        esac
    done
}
check "the unit's Documentation= is all installed" docs_ok "$I" /usr/share/man "$U" ""
check "sysusers.d: the system user flex" \
    grep -q '^u flex - ".*" /var/lib/flex /usr/sbin/nologin$' "$I/usr/lib/sysusers.d/flex.conf"
check "tmpfiles.d: /etc/flex 0750 and flexd.conf 0640, root:flex" sh -c \
    "grep -qx 'd /etc/flex 0750 root flex -' '$I/usr/lib/tmpfiles.d/flex.conf' &&
     grep -qx 'z /etc/flex/flexd.conf 0640 root flex -' '$I/usr/lib/tmpfiles.d/flex.conf'"
check "man pages flexd(8) and flexctl(1)" \
    test -f "$I/usr/share/man/man8/flexd.8" -a -f "$I/usr/share/man/man1/flexctl.1"
check "documentation: README, docs/, sample redis.conf" sh -c \
    "cd '$I/usr/share/doc/flex' && test -f README.md -a -f docs/install.md -a -f docs/operations.md \
     -a -f docs/config.md && cmp -s examples/redis.conf '$OLDPWD/deploy/redis.conf'"
C=$I/etc/flex/flexd.conf
check "the configuration is /etc/flex/flexd.conf, the shipped one" cmp -s "$C" deploy/flexd.conf
check "... mode 0640 in a 0750 directory: not readable by others" \
    test "$(mode "$C")" = 640 -a "$(mode "$I/etc/flex")" = 750
check "... and nothing else in the tree is world-writable" \
    test -z "$(find "$I" -perm -o+w ! -type l)"
check "no test tools without install-tools" \
    test -z "$(find "$I" -name flexbench -o -name smscsim -o -name httpsim)"
files "$I" >"$tmp/tree"
echo "# installed:" && sed 's/^/#   /' "$tmp/tree"

# A second install keeps an edited configuration.
echo "# edited by the site" >>"$C"
cp "$C" "$tmp/edited"
mk install DESTDIR="$I" PREFIX=/usr
check "a second install keeps an edited configuration" cmp -s "$C" "$tmp/edited"
check "make install-tools adds flexbench, smscsim, httpsim" \
    mk install-tools DESTDIR="$I" PREFIX=/usr
check "... executable, in /usr/bin" test -x "$I/usr/bin/flexbench" -a -x "$I/usr/bin/smscsim" \
    -a -x "$I/usr/bin/httpsim"
check "make uninstall leaves only the configuration" mk uninstall DESTDIR="$I" PREFIX=/usr
check "... which it keeps" test "$(files "$I")" = "etc/flex/flexd.conf"

# The default PREFIX: the unit as it is in deploy/.
check "make install with the default PREFIX (/usr/local)" mk install DESTDIR="$tmp/local"
check "... flexd in /usr/local/sbin, the unit as in deploy/" sh -c \
    "test -x '$tmp/local/usr/local/sbin/flexd' &&
     cmp -s '$tmp/local/usr/local/lib/systemd/system/flexd.service' deploy/flexd.service"
check "... its Documentation= installed too" \
    docs_ok "$tmp/local" /usr/local/share/man "$tmp/local/usr/local/lib/systemd/system/flexd.service" ""

# --- man pages ---------------------------------------------------------------
render() { LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$1" 2>/dev/null | tr -s ' \n' '  '; }
if command -v man >/dev/null; then
    for m in docs/man/flexd.8 docs/man/flexctl.1; do
        LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$m" >/dev/null 2>"$tmp/man.err"
        check "man --warnings $m: no warning" test $? -eq 0 -a ! -s "$tmp/man.err"
        cat "$tmp/man.err"
    done
    render docs/man/flexd.8 >"$tmp/flexd.txt"
    for o in $("$B/flexd" --help | sed -n 's/^  \(-[-a-zA-Z]*\).*/\1/p'); do
        check "flexd(8) documents $o" grep -qF -- " $o" "$tmp/flexd.txt"
    done
    for w in SIGHUP SIGTERM /etc/flex/flexd.conf "EXIT STATUS" "SEE ALSO" "flexctl(1)"; do
        check "flexd(8) has $w" grep -qF -- "$w" "$tmp/flexd.txt"
    done
    render docs/man/flexctl.1 >"$tmp/flexctl.txt"
    "$B/flexctl" --help | sed -n 's/^  \([a-z]\)/\1/p' | tr '|' '\n' |
        sed -n 's/^ *\([a-z][a-z]*\( [a-z][a-z]*\)*\).*/\1/p' | sort -u >"$tmp/cmds"
    check "flexctl --help lists its commands" test "$(wc -l <"$tmp/cmds")" -ge 10
    while read -r c; do
        check "flexctl(1) documents '$c'" grep -qF -- " $c " "$tmp/flexctl.txt"
    done <"$tmp/cmds"
    for w in --all "EXIT STATUS" /etc/flex/flexd.conf "flexd(8)"; do
        check "flexctl(1) has $w" grep -qF -- "$w" "$tmp/flexctl.txt"
    done
else
    skip "man pages: no man (sh deploy/install-deps.sh installs man-db)"
fi

# --- make deb ----------------------------------------------------------------
check "make deb" mk deb DEBDIR="$tmp/deb"
deb=$(find "$tmp/deb" -maxdepth 1 -name '*.deb' 2>/dev/null | head -n 1)
[ -n "$deb" ] || deb=$tmp/deb/none.deb
version=$(sed -n 's/.*FLEX_VERSION "\(.*\)".*/\1/p' engine/core/version.h)
field() { dpkg-deb --field "$deb" "$1"; }
check "named for its package, version and architecture" test "$(basename "$deb")" = \
    "$(field Package)_$(field Version)_$(dpkg --print-architecture).deb"
check "... version $version-1, from engine/core/version.h" test "$(field Version)" = "$version-1"
dpkg-deb --info "$deb" >"$tmp/info" 2>&1
check "dpkg-deb --info: control, conffiles, md5sums, maintainer scripts" sh -c \
    "for f in control conffiles md5sums postinst prerm postrm; do grep -q \" \$f\" '$tmp/info' || exit 1; done"
depends=$(field Depends)
echo "# Depends: $depends"
check "... Depends: from the libraries linked (libc6, hiredis, liburing)" sh -c \
    "echo '$depends' | grep 'libc6 (>=' | grep libhiredis | grep -q liburing"
dpkg-deb --contents "$deb" >"$tmp/contents"
check "contents: programs, unit, sysusers.d, tmpfiles.d" sh -c \
    "for f in usr/sbin/flexd usr/bin/flexctl usr/lib/systemd/system/flexd.service \
     usr/lib/sysusers.d/flex.conf usr/lib/tmpfiles.d/flex.conf; do
     grep -q \" \./\$f\$\" '$tmp/contents' || exit 1; done"
pkg=$(field Package)
check "... man pages gzipped, copyright, changelog.Debian.gz" sh -c \
    "for f in usr/share/man/man8/flexd.8.gz usr/share/man/man1/flexctl.1.gz \
     usr/share/doc/$pkg/copyright usr/share/doc/$pkg/changelog.Debian.gz; do
     grep -q \" \./\$f\$\" '$tmp/contents' || exit 1; done"
check "... /etc/flex/flexd.conf -rw-r----- root/root, a conffile" sh -c \
    "grep -q '^-rw-r----- root/root .* \./etc/flex/flexd.conf\$' '$tmp/contents' &&
     dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/flex/flexd.conf"
check "... every file root's" sh -c "! grep -v ' root/root ' '$tmp/contents'"
check "... no test tools" sh -c "! grep -q -e flexbench -e smscsim -e httpsim '$tmp/contents'"
check "maintainer scripts parse (sh -n)" sh -c \
    "for s in postinst prerm postrm; do sh -n deploy/debian/\$s || exit 1; done"

R=$tmp/root
dpkg-deb -x "$deb" "$R"
check "unpacked: the unit's flexd is there and runs" \
    sh -c "'$R/usr/sbin/flexd' --version >/dev/null"
check "... stripped" sh -c "! readelf -S '$R/usr/sbin/flexd' | grep -q debug_info"
check "... the unit's Documentation= is in the package" \
    docs_ok "$R" /usr/share/man "$R/usr/lib/systemd/system/flexd.service" .gz
check "... its configuration is valid" \
    sh -c "'$R/usr/sbin/flexd' -c '$R/etc/flex/flexd.conf' --check-config >/dev/null"
if [ "$(id -u)" -eq 0 ] && command -v systemd-sysusers >/dev/null &&
    command -v systemd-tmpfiles >/dev/null; then
    # What the postinst does, in the scratch root.
    systemd-sysusers --root="$R" >>"$tmp/make.log" 2>&1
    check "systemd-sysusers --root: the user flex, no login" \
        grep -q '^flex:x:[0-9]*:[0-9]*:.*:/var/lib/flex:/usr/sbin/nologin$' "$R/etc/passwd"
    systemd-tmpfiles --root="$R" --create flex.conf >>"$tmp/make.log" 2>&1
    gid=$(sed -n 's/^flex:x:\([0-9]*\):.*/\1/p' "$R/etc/group")
    check "systemd-tmpfiles --root: /etc/flex 0750 and flexd.conf 0640, group flex" \
        test -n "$gid" -a "$(stat -c %a:%u:%g "$R/etc/flex")" = "750:0:$gid" \
        -a "$(stat -c %a:%u:%g "$R/etc/flex/flexd.conf")" = "640:0:$gid"
else
    skip "sysusers/tmpfiles in a scratch root: needs root and systemd's tools"
fi
if command -v apt-get >/dev/null; then
    apt-get install -s "$deb" >"$tmp/apt.out" 2>&1
    check "apt-get install -s: its dependencies resolve (a simulation)" test $? -eq 0
    tail -n 3 "$tmp/apt.out" | sed 's/^/#   /'
else
    skip "apt's dependency check: no apt-get"
fi
if command -v lintian >/dev/null; then
    lintian --fail-on error "$deb" >"$tmp/lintian.out" 2>&1
    rc=$?
    check "lintian: no error" test $rc -eq 0
    check "... no E: tag" sh -c "! grep -q '^E:' '$tmp/lintian.out'"
    grep -v "running with root privileges" "$tmp/lintian.out" | sed 's/^/# lintian: /'
else
    skip "lintian: not installed (sh deploy/install-deps.sh installs it)"
fi

[ "$fails" -gt 0 ] && sed 's/^/# make: /' "$tmp/make.log" | tail -n 30
echo "$fails failed"
[ "$fails" -eq 0 ]
