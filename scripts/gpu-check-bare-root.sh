#!/usr/bin/env bash
# Proves, without a GPU, that scripts/gpu-check.sh needs only gpu-kit/, the tree
# and what the lent GPU machine has: its --dry-run inside a bare Debian 12 root
# holding only g++, cmake, ninja-build, python3, python3-torch and libtorch-dev
# (the last two standing in for that machine's PyTorch), with this machine's CUDA
# Toolkit bound in read-only. No git, no pkg-config, no network inside; the tree
# goes in without .git (git archive), gpu-kit/ beside it. Not part of CI: the
# first run makes the root (debootstrap, about 10 minutes), every run builds
# with nvcc on the root's cores (about 20 minutes on 2 cores). As root:
#
#   scripts/gpu-check-bare-root.sh [ROOT]     ROOT defaults to /work/roots/gpu23
# Exit status: the dry run's.
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=${1:-/work/roots/gpu23}
cuda=$(readlink -f /usr/local/cuda)  # e.g. /usr/local/cuda-13.0, bound at the same path

if [ ! -x "$root_dir/usr/bin/cmake" ]; then
    debootstrap --variant=minbase bookworm "$root_dir" http://deb.debian.org/debian
    cp /etc/apt/sources.list.d/debian.sources "$root_dir/etc/apt/sources.list.d/"
    cp /etc/resolv.conf "$root_dir/etc/resolv.conf"
    for d in proc sys dev; do mount --bind "/$d" "$root_dir/$d"; done
    chroot "$root_dir" env DEBIAN_FRONTEND=noninteractive apt-get update
    chroot "$root_dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        g++ cmake ninja-build python3 python3-torch libtorch-dev
    chroot "$root_dir" apt-get clean
    : >"$root_dir/etc/resolv.conf"  # no name resolution inside from here on
    for d in dev sys proc; do umount "$root_dir/$d"; done
fi
[ -d gpu-kit ] || bash scripts/gpu-check.sh --prepare

# The tree as committed (no .git), and the kit, at /src in the root.
rm -rf "$root_dir/src" && mkdir -p "$root_dir/src" "$root_dir$cuda"
git archive HEAD | tar -x -C "$root_dir/src"
cp -r gpu-kit "$root_dir/src/"
mounts=()
cleanup() { for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" || true; done; }
trap cleanup EXIT
for d in proc sys dev; do mount --bind "/$d" "$root_dir/$d" && mounts+=("$root_dir/$d"); done
mount --bind "$cuda" "$root_dir$cuda" && mounts+=("$root_dir$cuda")
mount -o remount,bind,ro "$root_dir$cuda"
# What is installed: the six packages and their dependencies, nothing else.
chroot "$root_dir" sh -c 'echo "bare root: $(dpkg-query -W | wc -l) packages; git: $(command -v git || echo none); pkg-config: $(command -v pkg-config || echo none)"'
# unshare --net: no network inside, not even the loopback's outside world.
unshare --net chroot "$root_dir" env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    bash /src/scripts/gpu-check.sh --dry-run
