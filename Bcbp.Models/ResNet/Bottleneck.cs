using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.ResNet;

/// <summary>
/// torchvision's <c>Bottleneck</c> (ResNet v1.5: the stride sits on the 3x3 conv, expansion 4):
/// names conv1, bn1, conv2, bn2, conv3, bn3, downsample.0/.1.
/// </summary>
public sealed class Bottleneck : nn.Module<Tensor, Tensor>
{
    /// <summary>Output channels = planes * Expansion.</summary>
    public const int Expansion = 4;

    // Typed as modules, not Conv2d/BatchNorm2d/Linear, so that SparseConversion can put a sparse module (or an
    // nn.Identity for a folded BN) in their place, as PyTorch's setattr would.
    private readonly nn.Module<Tensor, Tensor> conv1;
    private readonly nn.Module<Tensor, Tensor> bn1;
    private readonly nn.Module<Tensor, Tensor> conv2;
    private readonly nn.Module<Tensor, Tensor> bn2;
    private readonly nn.Module<Tensor, Tensor> conv3;
    private readonly nn.Module<Tensor, Tensor> bn3;
    private readonly Sequential? downsample;

    /// <summary>Creates the block; <paramref name="downsample"/> projects the identity when shapes change.</summary>
    public Bottleneck(long inplanes, long planes, long stride, Sequential? downsample) : base(nameof(Bottleneck))
    {
        conv1 = Layers.Conv1x1(inplanes, planes, 1);
        bn1 = nn.BatchNorm2d(planes);
        conv2 = Layers.Conv3x3(planes, planes, stride);
        bn2 = nn.BatchNorm2d(planes);
        conv3 = Layers.Conv1x1(planes, planes * Expansion, 1);
        bn3 = nn.BatchNorm2d(planes * Expansion);
        this.downsample = downsample;
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        var identity = downsample is null ? x : downsample.call(x);
        var @out = bn1.call(conv1.call(x)).relu_();
        @out = bn2.call(conv2.call(@out)).relu_();
        @out = bn3.call(conv3.call(@out));
        return @out.add_(identity).relu_();
    }
}
