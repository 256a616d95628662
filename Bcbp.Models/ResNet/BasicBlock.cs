using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.ResNet;

/// <summary>
/// torchvision's <c>BasicBlock</c> (two 3x3 convs, expansion 1): names conv1, bn1, conv2, bn2, downsample.0/.1.
/// </summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    /// <summary>Output channels = planes * Expansion.</summary>
    public const int Expansion = 1;

    // Typed as modules, not Conv2d/BatchNorm2d/Linear, so that SparseConversion can put a sparse module (or an
    // nn.Identity for a folded BN) in their place, as PyTorch's setattr would.
    private readonly nn.Module<Tensor, Tensor> conv1;
    private readonly nn.Module<Tensor, Tensor> bn1;
    private readonly nn.Module<Tensor, Tensor> conv2;
    private readonly nn.Module<Tensor, Tensor> bn2;
    private readonly Sequential? downsample;

    /// <summary>Creates the block; <paramref name="downsample"/> projects the identity when shapes change.</summary>
    public BasicBlock(long inplanes, long planes, long stride, Sequential? downsample) : base(nameof(BasicBlock))
    {
        conv1 = Layers.Conv3x3(inplanes, planes, stride);
        bn1 = nn.BatchNorm2d(planes);
        conv2 = Layers.Conv3x3(planes, planes, 1);
        bn2 = nn.BatchNorm2d(planes);
        this.downsample = downsample;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        var identity = downsample is null ? x : downsample.call(x);
        var @out = bn1.call(conv1.call(x)).relu_();
        @out = bn2.call(conv2.call(@out));
        return @out.add_(identity).relu_();
    }
}
