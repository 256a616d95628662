using Bcbp.Kernels.Formats;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Ops;

/// <summary>
/// A sparse layer's weight packed for the GPU kernel of each device and dtype it meets, with an fp32 copy of its bias on
/// that device, made once and kept outside any dispose scope (a host bias would be copied at every call, and that
/// pageable copy synchronizes the host with the GPU queue). The one cache of <see cref="Modules.BcbpConv2d"/> and
/// <see cref="Modules.BcbpLinear"/>, and the owner of their fp32 host bias: held here, not in a tensor field of the module,
/// it is no buffer, so <c>module.to(float16)</c> neither rounds the folded bias to fp16 nor disposes the tensor this
/// cache was made from (TorchSharp registers a child's tensor fields as buffers and disposes the ones it moves).
/// </summary>
internal sealed class PackedWeights(TiledSparseMatrix weight, Tensor? bias, bool pointwise) : IDisposable
{
    /// <summary>The fp32 bias [out] on the host, or null.</summary>
    public Tensor? Bias { get; } = bias?.detach().to(ScalarType.Float32).cpu().DetachFromDisposeScope();

    readonly Dictionary<(string, ScalarType), (PackedWeight Weight, Tensor? Bias)> _cache = new();

    /// <summary>The packing for <paramref name="device"/> in <paramref name="dtype"/>: for <paramref name="path"/>, or
    /// the kernel <see cref="KernelPaths.Choose(int, int, bool, KernelPath?)"/> picks; the block kernel's layout when
    /// <paramref name="forceBlockKernel"/>.</summary>
    public (PackedWeight Weight, Tensor? Bias) For(Device device, ScalarType dtype, KernelPath? path, bool forceBlockKernel = false)
    {
        var key = (device.ToString(), dtype);
        if (!_cache.TryGetValue(key, out var p))
        {
            var chosen = KernelPaths.Choose(device.index < 0 ? 0 : device.index, weight.TileRows, pointwise, path);
            _cache[key] = p = (PackedWeight.Create(weight, device, dtype, forceBlockKernel, chosen).DetachFromDisposeScope(),
                Bias?.to(ScalarType.Float32, device, copy: true).DetachFromDisposeScope());
        }
        return p;
    }

    /// <summary>Frees every packing, its device bias and the host bias (the owning module's Dispose).</summary>
    public void Dispose()
    {
        foreach (var (w, b) in _cache.Values) { w.Dispose(); b?.Dispose(); }
        _cache.Clear();
        Bias?.Dispose();
    }
}
