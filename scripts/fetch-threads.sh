#!/usr/bin/env bash
# Real mailing-list threads for the reply-detection measure (benchmarks/threads.py): the test
# corpora of notmuch (its own list and the Linux kernel's, GPL-3.0-or-later), taken from the
# source package of this machine's Debian release with apt-get source, kept in DIR
# (default: $PRIMSYNC_THREADS, else ~/.cache/primsync/threads) and read there in place.
# The system's apt configuration is not changed: the deb-src list lives in a temporary folder.
set -euo pipefail
dest="${1:-${PRIMSYNC_THREADS:-$HOME/.cache/primsync/threads}}"
[ -d "$dest/corpora/lkml" ] && [ -d "$dest/corpora/default" ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/src"
# the machine's own Debian sources, as deb-src (deb822 .sources files, or one-line lists)
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -q '^Types: deb$' "$f" && sed 's/^Types: deb$/Types: deb-src/' "$f" >> "$work/src.sources" \
    && printf '\n' >> "$work/src.sources"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && sed -n 's/^deb \(.*\)$/deb-src \1/p' "$f" >> "$work/src.list"
done
touch "$work/src.sources" "$work/src.list"
mkdir -p "$work/parts"
cp "$work/src.sources" "$work/parts/src.sources"
cp "$work/src.list" "$work/parts/src.list"
apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/parts"
          -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
$SUDO apt-get "${apt_opts[@]}" update -qq
(cd "$work/src" && $SUDO apt-get "${apt_opts[@]}" source --download-only -qq notmuch)
orig="$(ls "$work"/src/notmuch_*.orig.tar.* | head -n 1)"
mkdir -p "$work/x"
tar -xf "$orig" -C "$work/x" --wildcards '*/test/corpora/default/*' '*/test/corpora/lkml/*' \
  '*/test/corpora/README' '*/COPYING-GPL-3' '*/COPYING'
top="$(ls -d "$work"/x/notmuch-*)"
mkdir -p "$dest"
rm -rf "$dest/corpora"
mkdir -p "$dest/corpora"
cp -r "$top/test/corpora/default" "$top/test/corpora/lkml" "$top/test/corpora/README" "$dest/corpora/"
cp "$top/COPYING" "$top/COPYING-GPL-3" "$dest/"
basename "$(ls "$work"/src/notmuch_*.dsc)" .dsc > "$dest/SOURCE"
echo "notmuch's test corpora ($(cat "$dest/SOURCE")) in $dest"
