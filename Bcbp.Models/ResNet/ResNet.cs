using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.ResNet;

/// <summary>Which residual block an ImageNet ResNet stacks.</summary>
public enum ResNetBlock
{
    /// <summary>Two 3x3 convs (ResNet-18/34).</summary>
    Basic,
    /// <summary>1x1-3x3-1x1 bottleneck with expansion 4 (ResNet-50/101/152).</summary>
    Bottleneck,
}

/// <summary>
/// torchvision's ImageNet <c>ResNet</c>, layer for layer and name for name (conv1, bn1, layer1..4, fc), so
/// torchvision state dicts load directly. <c>inChannels</c> replaces the RGB stem for other inputs.
/// </summary>
public sealed class ResNet : nn.Module<Tensor, Tensor>
{
    // Typed as modules, not Conv2d/BatchNorm2d/Linear, so that SparseConversion can put a sparse module (or an
    // nn.Identity for a folded BN) in their place, as PyTorch's setattr would.
    private readonly nn.Module<Tensor, Tensor> conv1;
    private readonly nn.Module<Tensor, Tensor> bn1;
    private readonly MaxPool2d maxpool;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly nn.Module<Tensor, Tensor> fc;

    /// <summary>Builds a ResNet with <paramref name="layers"/> blocks per stage (e.g. [3, 4, 6, 3] for ResNet-50).</summary>
    public ResNet(string name, ResNetBlock block, int[] layers, int numClasses = 1000, int inChannels = 3)
        : base(name)
    {
        if (layers.Length != 4) throw new ArgumentException($"ResNet needs 4 stage depths, got {layers.Length}.", nameof(layers));
        long inplanes = 64;
        conv1 = nn.Conv2d(inChannels, 64, kernel_size: 7, stride: 2, padding: 3, bias: false);
        bn1 = nn.BatchNorm2d(64);
        maxpool = nn.MaxPool2d(kernel_size: 3, stride: 2, padding: 1);
        layer1 = MakeLayer(block, ref inplanes, 64, layers[0], 1);
        layer2 = MakeLayer(block, ref inplanes, 128, layers[1], 2);
        layer3 = MakeLayer(block, ref inplanes, 256, layers[2], 2);
        layer4 = MakeLayer(block, ref inplanes, 512, layers[3], 2);
        avgpool = nn.AdaptiveAvgPool2d(new long[] { 1, 1 });
        fc = nn.Linear(inplanes, numClasses);
        RegisterComponents();
        TorchvisionInit.Apply(this);
    }

    private static Sequential MakeLayer(ResNetBlock block, ref long inplanes, long planes, int blocks, long stride)
    {
        long expansion = block == ResNetBlock.Basic ? BasicBlock.Expansion : Bottleneck.Expansion;
        Sequential? downsample = null;
        if (stride != 1 || inplanes != planes * expansion)
            downsample = nn.Sequential(Layers.Conv1x1(inplanes, planes * expansion, stride), nn.BatchNorm2d(planes * expansion));

        var modules = new List<nn.Module<Tensor, Tensor>>();
        for (int i = 0; i < blocks; i++)
        {
            long s = i == 0 ? stride : 1;
            var ds = i == 0 ? downsample : null;
            modules.Add(block == ResNetBlock.Basic
                ? new BasicBlock(inplanes, planes, s, ds)
                : new Bottleneck(inplanes, planes, s, ds));
            inplanes = planes * expansion;
        }
        return nn.Sequential(modules.ToArray());
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        x = maxpool.call(bn1.call(conv1.call(x)).relu_());
        x = layer4.call(layer3.call(layer2.call(layer1.call(x))));
        return fc.call(avgpool.call(x).flatten(1));
    }
}
