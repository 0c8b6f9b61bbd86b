#!/usr/bin/env bash
# ctest cli.mpirun: the `ilvr` tool under Open MPI's launcher without linking MPI.
# `mpirun -n 2 --oversubscribe ilvr --shard auto` (each process takes its shard
# from OMPI_COMM_WORLD_RANK / _SIZE), then `ilvr --assemble`, must leave exactly
# the files of a single-process run, byte for byte (samples, grid, manifest but its shard count,
# lock file). Both runs use --batch 1 and --threads 1, so every image is computed
# alone with the same kernels and the bundled network's pixels are bitwise equal.
# Exit 77 (skipped) where mpirun is absent.
# usage: mpirun.sh <ilvr executable> <scratch folder>
set -euo pipefail
ilvr=$1
scratch=$2
if ! command -v mpirun > /dev/null; then
    echo "mpirun not found (Debian: openmpi-bin): skipped"
    exit 77
fi
rm -rf "$scratch"
mkdir -p "$scratch"
job=(--respacing 5 --samples 3 --factor 4,8 --batch 1 --threads 1 --quiet)

"$ilvr" "${job[@]}" --out "$scratch/single"

as_root=()
[ "$(id -u)" -ne 0 ] || as_root=(--allow-run-as-root)  # Open MPI refuses root without it
mpirun -n 2 --oversubscribe "${as_root[@]}" "$ilvr" "${job[@]}" --shard auto --out "$scratch/mpi"
[ ! -e "$scratch/mpi/grid.png" ] || { echo "FAIL: a shard wrote the grid"; exit 1; }
"$ilvr" --assemble --quiet --out "$scratch/mpi"

single=$(cd "$scratch/single" && find . -type f | sort)
mpi=$(cd "$scratch/mpi" && find . -type f | sort)
if [ "$single" != "$mpi" ]; then
    echo "FAIL: different files"; echo "single: $single"; echo "mpi: $mpi"
    exit 1
fi
count=0
while read -r file; do
    if [ "$(basename "$file")" = ilvr-job.txt ]; then  # the same job, but run in 2 shards: its one difference
        grep -qx 'shards: 2' "$scratch/mpi/$file" || { echo "FAIL: the manifest does not record 2 shards"; exit 1; }
        cmp <(grep -v '^shards: ' "$scratch/single/$file") <(grep -v '^shards: ' "$scratch/mpi/$file")
    else
        cmp "$scratch/single/$file" "$scratch/mpi/$file"
    fi
    count=$((count + 1))
done <<< "$single"
[ "$count" -eq 9 ] || { echo "FAIL: expected 9 files (6 samples, grid, manifest, lock), got $count"; exit 1; }
echo "cli.mpirun: $count files byte-identical to a single-process run"
