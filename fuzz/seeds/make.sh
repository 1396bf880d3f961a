#!/usr/bin/env bash
# Regenerates the committed seed corpora in fuzz/corpus/ from the benchmark
# repositories' real files (bare mirrors), the benchmark's cases files and
# the embedded model. Large files are sliced: every seed stays under 64 KB.
#
#   fuzz/seeds/make.sh [MIRRORS] [CASES_DIR] [GGUF]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fuzz=$(dirname "$here")
root=$(dirname "$fuzz")
mirrors=${1:-/work/.mirror}
cases=${2:-/work/shared/bench/dev}
gguf=${3:-$root/models/SmolLM2-135M-Instruct.Q4_1.gguf}
out=$fuzz/corpus
show() { git --git-dir="$mirrors/$1/repo" show "refs/heads/main:$2"; }
# Lines A..B of a file (a slice that starts and ends on line boundaries).
lines() { sed -n "$1,$2p"; }
sep() { printf '\001'; }

rm -rf "$out"
mkdir -p "$out"/{codeowners,maintainers,owners,cases,config,when,gguf,adapter,learned}

# CODEOWNERS: IREE's and ExecuTorch's, plus the syntax they lack.
show iree-org+iree .github/CODEOWNERS > "$out/codeowners/iree"
show pytorch+executorch CODEOWNERS > "$out/codeowners/executorch"
cp "$here/codeowners-syntax" "$out/codeowners/syntax"

# MAINTAINERS: slices of DPDK's and U-Boot's; U-Boot's root slice with two
# per-directory files (files separated by \x01, see fuzz/targets.rs).
show DPDK+dpdk MAINTAINERS | lines 1 250 > "$out/maintainers/dpdk-head"
show DPDK+dpdk MAINTAINERS | lines 600 900 > "$out/maintainers/dpdk-drivers"
{
    show u-boot+u-boot MAINTAINERS | lines 1 200
    sep; show u-boot+u-boot board/BuR/brppt1/MAINTAINERS
    sep; show u-boot+u-boot arch/arm/mach-rockchip/rk3528/MAINTAINERS
} > "$out/maintainers/uboot-tree"

# OWNERS trees: ANGLE's (Chromium syntax), each file "PATH\n" + contents,
# files separated by \x01; and a Kubernetes-style tree.
{
    first=1
    for path in OWNERS android/OWNERS infra/config/OWNERS src/compiler/translator/OWNERS \
        src/libANGLE/capture/OWNERS src/common/base/anglebase/numerics/OWNERS; do
        [ $first = 1 ] || sep; first=0
        echo "$path"; show google+angle "$path"
    done
} > "$out/owners/angle-tree"
cp "$here/owners-kubernetes" "$out/owners/kubernetes-tree"
cp "$here/owners-chromium-includes" "$out/owners/chromium-includes"

# Cases files: the benchmark's, whole (each is about 10 KB).
for f in "$cases"/*.yaml; do cp "$f" "$out/cases/$(basename "$f")"; done

# rca.yaml: every documented key, and a minimal one.
cp "$here/rca-full.yaml" "$out/config/full.yaml"
printf 'ownership_file: MAINTAINERS\naliases:\n  mlx5: [drivers/net/mlx5/**]\n' > "$out/config/minimal.yaml"

# WHEN phrases, one per file.
i=0
while IFS= read -r phrase; do
    printf '%s' "$phrase" > "$out/when/$(printf '%02d' $i)"; i=$((i + 1))
done < "$here/when-phrases"

# GGUF: the first 4 KB of the embedded model (header, start of the
# metadata), and small complete GGUFs made from its metadata (one with
# an explicit general.alignment).
head -c 4096 "$gguf" > "$out/gguf/smollm2-head-4k"
python3 "$here/gguf_seed.py" "$gguf" "$out/gguf/smollm2-small.seed" 256
python3 "$here/gguf_seed.py" "$gguf" "$out/gguf/smollm2-small-aligned.seed" 64 64

# Adapters: small safetensors files in rca's LoRA format. Learned files: a
# fusion cut from models/fusion.yaml (its weights, three words' associations)
# and two calibrations written by `rca calibrate` (Platt and isotonic).
python3 "$here/adapter_seed.py" "$out/adapter"
cp "$here"/learned/* "$out/learned/"

# Inputs that crashed a target once (docs/fuzzing.md), kept as seeds.
for dir in "$here"/regressions/*/; do
    t=$(basename "$dir")
    for f in "$dir"*; do cp "$f" "$out/$t/regression-$(basename "$f")"; done
done

chmod -R u+w,go-w "$out"
find "$out" -type f -size +64k -print | sed 's/^/too big: /' && true
du -sh "$out"/*
