#!/usr/bin/env bash
# Packs a .NET app for a Linux GPU machine that has PyTorch but no .NET (docs/gpu.md).
# Usage, from the repository root:  bash build/gpu-bundle.sh PROJECT [dotnet publish args...]
# Makes .gpu/ (git-ignored through .git/info/exclude): the .NET runtime as tar.xz, the published app in .gpu/app,
# and .gpu/run.sh, which unpacks the runtime once, points BCBP_LIBTORCH and LD_LIBRARY_PATH at Python's torch/lib,
# and runs the app with the arguments it is given. Carry ".gpu" in the device call.
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
rm -rf .gpu/app
dotnet publish "$proj" -c Release -r linux-x64 --no-self-contained -o .gpu/app "$@"
cat > .gpu/run.sh <<'RUN'
#!/usr/bin/env bash
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -x /tmp/dotnet/dotnet ] || { mkdir -p /tmp/dotnet && tar xJf "$here/dotnet-rt.tar.xz" -C /tmp/dotnet; }
export DOTNET_ROOT=/tmp/dotnet
export BCBP_LIBTORCH=${BCBP_LIBTORCH:-$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')}
export LD_LIBRARY_PATH=$BCBP_LIBTORCH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
app=$(ls "$here"/app/*.runtimeconfig.json | head -1); app=${app%.runtimeconfig.json}.dll
exec /tmp/dotnet/dotnet "$app" "$@"
RUN
chmod +x .gpu/run.sh
size=$(du -sm .gpu | cut -f1)
echo "bundle: .gpu is ${size} MiB (the device call carries at most 64 MiB with the whole working tree)"
[ "$size" -lt 60 ] || echo "bundle: too large: publish without the libtorch-cpu package (the GPU machine brings its own libtorch)" >&2
