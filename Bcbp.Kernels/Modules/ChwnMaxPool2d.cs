using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Modules;

/// <summary>
/// 2x2 stride-2 max pooling that keeps our kernels' CHWN memory: a sparse conv's output is an NCHW-shaped view of
/// [C x H x W x B] memory, which max_pool2d would first copy to NCHW and the next sparse conv back to CHWN. On such an
/// input (even H and W) it pools as an amax over [C x H/2 x 2 x W/2 x 2 x B] and returns CHWN memory again; any other
/// input goes to the pool it replaces. Put in place of a VGG pool by <see cref="Conversion.EpilogueFusion"/>.
/// </summary>
public sealed class ChwnMaxPool2d : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor> _pool;

    /// <summary>Creates the pool; <paramref name="pool"/> (a 2x2 stride-2 unpadded max pool) serves other inputs.</summary>
    public ChwnMaxPool2d(nn.Module<Tensor, Tensor> pool) : base(nameof(ChwnMaxPool2d))
    {
        _pool = pool;
        register_module("pool", pool);
    }

    /// <summary>The pool this replaces (its kernel, stride and padding; it serves inputs of other layouts).</summary>
    public nn.Module<Tensor, Tensor> Pool => _pool;

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        var chwn = x.permute(1, 2, 3, 0);
        long c = chwn.shape[0], h = chwn.shape[1], w = chwn.shape[2], b = chwn.shape[3];
        if (x.dim() != 4 || !chwn.is_contiguous() || h % 2 != 0 || w % 2 != 0)
            return _pool.call(x);
        return chwn.view(c, h / 2, 2, w / 2, 2, b).amax(new long[] { 2, 4 }).permute(3, 0, 1, 2);
    }
}
