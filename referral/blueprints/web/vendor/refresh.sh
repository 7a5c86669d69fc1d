#!/usr/bin/env bash
# Copy the pinned browser libraries into static/vendor/, which is committed and served.
# Change a version in package.json, run `make vendor`, test, and commit the result.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="$here/../static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$here/package.json" "$work/"
[ -f "$here/package-lock.json" ] && cp "$here/package-lock.json" "$work/"
(cd "$work" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
cp "$work/package-lock.json" "$here/package-lock.json"

rm -rf "$target" && mkdir -p "$target/workbox" "$target/idb"
modules="$work/node_modules"
cp "$modules/workbox-sw/build/workbox-sw.js" "$target/workbox/"
for name in core precaching routing strategies; do
    cp "$modules/workbox-$name/build/workbox-$name.prod.js" "$target/workbox/"
done
cp "$modules/idb/build/index.js" "$target/idb/index.js"
cp "$modules/idb/LICENSE" "$target/idb/LICENSE"
cp "$modules/workbox-sw/LICENSE" "$target/workbox/LICENSE"
# The versions served, for whoever reads the folder.
(cd "$modules" && for package in idb workbox-core workbox-precaching workbox-routing \
        workbox-strategies workbox-sw; do
    printf '%s %s\n' "$package" "$(node -p "require('./$package/package.json').version")"
done) > "$target/VERSIONS"
echo "vendored into $target:"
cat "$target/VERSIONS"
