#!/usr/bin/env bash
# Packs a .NET app for a Linux GPU machine that has PyTorch but no .NET (docs/gpu.md).
# Usage, from the repository root:  bash build/gpu-bundle.sh PROJECT [dotnet publish args...]
# Makes .gpu/ (git-ignored through .git/info/exclude): the .NET runtime and the published app, each as tar.xz
# (about 26 + 8 MB: the device call carries 64 MiB with the working tree, and data such as a Fashion-MNIST subset in
# .gpu/data must fit beside them), and .gpu/run.sh, which unpacks both under /tmp once per bundle, points
# BCBP_LIBTORCH and LD_LIBRARY_PATH at Python's torch/lib, and runs the app with the arguments it is given.
# Carry ".gpu" in the device call.
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
proj=${1:?usage: build/gpu-bundle.sh PROJECT [dotnet publish args...]}; shift
mkdir -p "$(git rev-parse --git-dir)/info"
grep -qxF '/.gpu/' "$(git rev-parse --git-dir)/info/exclude" 2>/dev/null || echo '/.gpu/' >> "$(git rev-parse --git-dir)/info/exclude"
mkdir -p .gpu
if [ ! -f .gpu/dotnet-rt.tar.xz ]; then
  dn=$(dirname "$(readlink -f "$(command -v dotnet)")")
  (cd "$dn" && tar cf - dotnet host shared/Microsoft.NETCore.App) | xz -T0 -6 > .gpu/dotnet-rt.tar.xz
fi
rm -rf .gpu/app .gpu/app.tar.xz
publish=$(mktemp -d)
trap 'rm -rf "$publish"' EXIT
dotnet publish "$proj" -c Release -r linux-x64 --no-self-contained -o "$publish/app" "$@"
tar cf - -C "$publish" app | xz -T0 -6 > .gpu/app.tar.xz
cat > .gpu/run.sh <<'RUN'
#!/usr/bin/env bash
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -x /tmp/dotnet/dotnet ] || { mkdir -p /tmp/dotnet && tar xJf "$here/dotnet-rt.tar.xz" -C /tmp/dotnet; }
export DOTNET_ROOT=/tmp/dotnet
export BCBP_LIBTORCH=${BCBP_LIBTORCH:-$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')}
export LD_LIBRARY_PATH=$BCBP_LIBTORCH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# One unpacked copy per bundle (named by the archive's checksum), so a new bundle on a warm machine is not mixed up
# with the last one.
dir=/tmp/bcbp-app-$(cksum < "$here/app.tar.xz" | cut -d' ' -f1)
[ -f "$dir/.unpacked" ] || { rm -rf "$dir" && mkdir -p "$dir" && tar xJf "$here/app.tar.xz" -C "$dir" && touch "$dir/.unpacked"; }
app=$(ls "$dir"/app/*.runtimeconfig.json | head -1); app=${app%.runtimeconfig.json}.dll
exec /tmp/dotnet/dotnet "$app" "$@"
RUN
chmod +x .gpu/run.sh
size=$(du -sm .gpu | cut -f1)
echo "bundle: .gpu is ${size} MiB (the device call carries at most 64 MiB with the whole working tree)"
[ "$size" -lt 60 ] || echo "bundle: too large: publish without the libtorch-cpu package (the GPU machine brings its own libtorch)" >&2
