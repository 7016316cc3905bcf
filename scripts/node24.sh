#!/usr/bin/env bash
# The Node the Lambdas run (nodejs24.x), for tests and benchmarks on this machine beside its own Node.
#   scripts/node24.sh              prints the directory holding that node binary
#   scripts/node24.sh CMD [ARG...] runs CMD with that directory first on PATH
# It comes from the npm registry as the pinned node-linux-<arch> package, fetched by npm itself and checked
# against the integrity pinned here, and is kept in a cache directory so later runs fetch nothing.
# Not a dependency in package.json: `npm ci` must not install a second Node for everyone.
set -euo pipefail

version=24.22.3
case "$(uname -m)" in
  x86_64 | amd64)
    arch=x64
    integrity=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
    ;;
  aarch64 | arm64)
    arch=arm64
    integrity=sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==
    ;;
  *)
    echo "node24.sh: no node-linux package for machine type $(uname -m)" >&2
    exit 1
    ;;
esac
[ "$(uname -s)" = Linux ] || { echo "node24.sh: Linux only (node-linux-$arch)" >&2; exit 1; }

cache="${XDG_CACHE_HOME:-${HOME:?node24.sh needs HOME or XDG_CACHE_HOME}/.cache}/invoice-ingest"
dir="$cache/node-$version-linux-$arch"
bin="$dir/bin"

if [ ! -x "$bin/node" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.node-$version.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "node24.sh: fetching node-linux-$arch@$version into $dir" >&2
  # npm's own cache makes a second fetch (say, after the directory above was removed) a local copy.
  got="$(cd "$tmp" && npm pack "node-linux-$arch@$version" --prefer-offline --json --silent \
    | node -e 'const [p] = JSON.parse(require("node:fs").readFileSync(0, "utf8")); console.log(p.filename, p.integrity)')"
  read -r file sum <<<"$got"
  if [ "$sum" != "$integrity" ]; then
    echo "node24.sh: node-linux-$arch@$version has integrity $sum, expected $integrity" >&2
    exit 1
  fi
  mkdir "$tmp/unpacked"
  tar -xzf "$tmp/$file" -C "$tmp/unpacked" --strip-components=1
  "$tmp/unpacked/bin/node" --version >/dev/null
  # A rename, so a run beside this one sees either no directory or a whole one.
  mv -T "$tmp/unpacked" "$dir" 2>/dev/null || [ -x "$bin/node" ]
  rm -rf "$tmp"
  trap - EXIT
fi

if [ "$#" -eq 0 ]; then
  echo "$bin"
else
  PATH="$bin:$PATH" exec "$@"
fi
