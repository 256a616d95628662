using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>
/// Packs a model's buffers (BatchNorm running statistics and batch counts; the caller chooses which) into one
/// contiguous tensor per dtype and device (<see cref="Flats"/>), as <see cref="FlatParameters"/> packs the parameters:
/// each buffer becomes a view of its slice (<c>set_</c>: the same tensor objects, so modules, in-place statistic
/// updates and state dicts are unchanged). Data-parallel training then broadcasts rank 0's buffers with one collective
/// per dtype (2 for a BatchNorm model: float statistics and int64 counts) instead of one per buffer (~160 per step for
/// ResNet-50). Build it after the model is on its device and loaded; a buffer replaced afterwards (a new tensor
/// registered under its name) would no longer be covered.
/// </summary>
public sealed class FlatBuffers
{
    readonly Tensor[] _flats;

    /// <summary>One 1-D tensor per (dtype, device) of the packed buffers, in the order of the buffers' first
    /// appearance; every packed buffer is a view of one of them.</summary>
    public IReadOnlyList<Tensor> Flats => _flats;

    /// <summary>The packed buffers, in registration order.</summary>
    public IReadOnlyList<Tensor> Buffers { get; }

    /// <summary>Packs <paramref name="buffers"/> (each at most once; any shape, scalars included).</summary>
    public FlatBuffers(IEnumerable<Tensor> buffers)
    {
        Buffers = buffers.ToArray();
        using var noGrad = no_grad();
        var flats = new List<Tensor>();
        foreach (var group in Buffers.GroupBy(b => (b.dtype, Device: b.device.ToString())))
        {
            var members = group.ToArray();
            long total = members.Sum(b => b.numel());
            var flat = empty(total, dtype: group.Key.dtype, device: members[0].device).DetachFromDisposeScope();
            long offset = 0;
            foreach (var b in members)
            {
                var slice = flat.narrow(0, offset, b.numel()).view(b.shape);
                slice.copy_(b);
                b.set_(slice); // the buffer now lives in flat's storage
                offset += b.numel();
            }
            flats.Add(flat);
        }
        _flats = flats.ToArray();
    }
}
