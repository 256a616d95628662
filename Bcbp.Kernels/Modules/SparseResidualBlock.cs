using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Modules;

/// <summary>
/// A converted ResNet block (BatchNorms folded) run as its convolutions alone: every conv but the last applies ReLU in
/// its epilogue, the last adds the shortcut and applies ReLU there too, so a bottleneck is its 3 (4 with the
/// downsample) kernel launches. relu(conv_n(... relu(conv1(x)))) + shortcut(x)), as torchvision's blocks compute.
/// </summary>
public sealed class SparseResidualBlock : nn.Module<Tensor, Tensor>
{
    readonly BcbpConv2d[] _convs;
    readonly Func<Tensor, Tensor> _shortcut;

    /// <summary>Creates the block from its convs in order (named as in the original block, e.g. conv1..conv3) and its
    /// shortcut (the downsample module, a parameter-free function, or the identity).</summary>
    public SparseResidualBlock(IReadOnlyList<(string Name, BcbpConv2d Conv)> convs, Func<Tensor, Tensor> shortcut,
        nn.Module<Tensor, Tensor>? downsample = null) : base(nameof(SparseResidualBlock))
    {
        if (convs.Count == 0) throw new ArgumentException("a residual block needs at least one conv");
        _convs = convs.Select(c => c.Conv).ToArray();
        _shortcut = shortcut;
        foreach (var (name, conv) in convs) register_module(name, conv);
        if (downsample is not null) register_module("downsample", downsample);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        var h = x;
        for (int i = 0; i < _convs.Length - 1; i++) h = _convs[i].Forward(h, null, relu: true);
        return _convs[^1].Forward(h, _shortcut(x), relu: true);
    }
}
