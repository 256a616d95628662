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
    /// shortcut: the downsample module, the CIFAR option-A subsample-and-pad (<paramref name="optionA"/>: stride and
    /// zero channels, computed by <paramref name="shortcut"/>), or the identity.</summary>
    public SparseResidualBlock(IReadOnlyList<(string Name, BcbpConv2d Conv)> convs, Func<Tensor, Tensor> shortcut,
        nn.Module<Tensor, Tensor>? downsample = null, (int Stride, int PadChannels)? optionA = null) : base(nameof(SparseResidualBlock))
    {
        if (convs.Count == 0) throw new ArgumentException("a residual block needs at least one conv");
        _convs = convs.Select(c => c.Conv).ToArray();
        _shortcut = shortcut;
        Downsample = downsample;
        OptionA = optionA is { Stride: 1, PadChannels: 0 } ? null : optionA;
        foreach (var (name, conv) in convs) register_module(name, conv);
        if (downsample is not null) register_module("downsample", downsample);
    }

    /// <summary>The convolutions in order; all but the last apply ReLU, the last adds the shortcut first.</summary>
    public IReadOnlyList<BcbpConv2d> Convs => _convs;
    /// <summary>The shortcut's module (torchvision's downsample), or null.</summary>
    public nn.Module<Tensor, Tensor>? Downsample { get; }
    /// <summary>The option-A shortcut's stride and zero channels, or null (identity or <see cref="Downsample"/>).</summary>
    public (int Stride, int PadChannels)? OptionA { get; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        var h = x;
        for (int i = 0; i < _convs.Length - 1; i++) h = _convs[i].Forward(h, null, relu: true);
        return _convs[^1].Forward(h, _shortcut(x), relu: true);
    }
}
