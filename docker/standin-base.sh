#!/usr/bin/env bash
# Builds a stand-in for the Dockerfile's base image (python:3.11-slim) where no image registry is
# reachable: Debian 12 (bookworm, whose python3 is 3.11) from the Debian mirror that apt uses, via
# debootstrap, turned into an image with `docker import`. It trusts the host's CA bundle (pip in
# the build reaches the package index through it); that bundle lives only in this stand-in base,
# never in the product image's own layers. Prints the image's name. The image is cached: its tag is
# a hash of this script and of the CA bundle, so a second call costs nothing.
#   docker build --network host --build-arg BASE_IMAGE="$(docker/standin-base.sh)" -t exchange-stress-test .
set -euo pipefail

ca_bundle=/etc/ssl/certs/ca-certificates.crt
tag="exchange-stress-test-base:$(cat "$0" "$ca_bundle" | sha256sum | cut -c1-16)"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "error: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
mirror=$( { sed -n 's|^URIs:[[:space:]]*\(http[^ ]*/debian\)/*$|\1|p' /etc/apt/sources.list.d/*.sources
           sed -n 's|^deb[[:space:]]\+\(http[^ ]*/debian\)/*[[:space:]].*|\1|p' /etc/apt/sources.list; } 2>/dev/null | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$mirror" >&2
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
mkdir -p "$root/etc/ssl/certs"
cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"
tar -C "$root" -c . | docker import - "$tag" >/dev/null
echo "$tag"
