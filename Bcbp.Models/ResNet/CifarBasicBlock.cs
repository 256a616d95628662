using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.ResNet;

/// <summary>
/// The CIFAR ResNet block of He et al. 2016 (sec. 4.2): two 3x3 convs with the parameter-free "option A"
/// shortcut — when the block halves the resolution and doubles the width, the identity is subsampled with stride 2
/// and zero-padded in channels, so the shortcut adds no weights (ResNet-56 stays at 0.85 M parameters).
/// </summary>
public sealed class CifarBasicBlock : nn.Module<Tensor, Tensor>
{
    // Typed as modules, not Conv2d/BatchNorm2d/Linear, so that SparseConversion can put a sparse module (or an
    // nn.Identity for a folded BN) in their place, as PyTorch's setattr would.
    private readonly nn.Module<Tensor, Tensor> conv1;
    private readonly nn.Module<Tensor, Tensor> bn1;
    private readonly nn.Module<Tensor, Tensor> conv2;
    private readonly nn.Module<Tensor, Tensor> bn2;
    private readonly long stride;
    private readonly long padChannels;

    /// <summary>Creates the block mapping <paramref name="inPlanes"/> to <paramref name="planes"/> channels.</summary>
    public CifarBasicBlock(long inPlanes, long planes, long stride) : base(nameof(CifarBasicBlock))
    {
        conv1 = ResNetConvs.Conv3x3(inPlanes, planes, stride);
        bn1 = nn.BatchNorm2d(planes);
        conv2 = ResNetConvs.Conv3x3(planes, planes, 1);
        bn2 = nn.BatchNorm2d(planes);
        this.stride = stride;
        padChannels = planes - inPlanes;
        if (padChannels < 0 || padChannels % 2 != 0)
            throw new ArgumentException($"Option-A shortcut needs planes >= inPlanes with an even difference, got {inPlanes} -> {planes}.");
        RegisterComponents();
    }

    /// <summary>The block's stride (the shortcut subsamples by it).</summary>
    public long Stride => stride;
    /// <summary>Channels the shortcut adds as zeros (half before the input's, half after).</summary>
    public long PadChannels => padChannels;

    /// <summary>Option A: subsample spatially by the stride, pad the new channels with zeros (half before, half after).
    /// Public so that a converted block (Bcbp.Kernels' epilogue fusion) computes the same shortcut.</summary>
    public Tensor Shortcut(Tensor x)
    {
        if (stride == 1 && padChannels == 0) return x;
        var sub = stride == 1 ? x : x[.., .., TensorIndex.Slice(null, null, stride), TensorIndex.Slice(null, null, stride)];
        var half = padChannels / 2;
        return nn.functional.pad(sub, new long[] { 0, 0, 0, 0, half, half });
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        var @out = bn1.call(conv1.call(x)).relu_();
        @out = bn2.call(conv2.call(@out));
        return @out.add_(Shortcut(x)).relu_();
    }
}
