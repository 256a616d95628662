using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.ResNet;

/// <summary>
/// CIFAR ResNet-(6n+2) of He et al. 2016: a 3x3 stem of 16 channels, three stages of n blocks with 16/32/64
/// channels (stride 2 at the start of stages 2 and 3), global average pooling and <c>fc</c>. Works for any input
/// of at least 8x8, e.g. 32x32 CIFAR or 28x28 Fashion-MNIST.
/// </summary>
public sealed class CifarResNet : nn.Module<Tensor, Tensor>
{
    // Typed as modules, not Conv2d/BatchNorm2d/Linear, so that SparseConversion can put a sparse module (or an
    // nn.Identity for a folded BN) in their place, as PyTorch's setattr would.
    private readonly nn.Module<Tensor, Tensor> conv1;
    private readonly nn.Module<Tensor, Tensor> bn1;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly nn.Module<Tensor, Tensor> fc;

    /// <summary>Builds ResNet-<paramref name="depth"/>; depth must be 6n+2 (20, 32, 44, 56, 110, ...).</summary>
    public CifarResNet(int depth, int numClasses = 10, int inChannels = 3) : base($"resnet{depth}")
    {
        if (depth < 8 || (depth - 2) % 6 != 0)
            throw new ArgumentException($"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}.", nameof(depth));
        int n = (depth - 2) / 6;
        conv1 = ResNetConvs.Conv3x3(inChannels, 16, 1);
        bn1 = nn.BatchNorm2d(16);
        layer1 = MakeStage(16, 16, n, 1);
        layer2 = MakeStage(16, 32, n, 2);
        layer3 = MakeStage(32, 64, n, 2);
        avgpool = nn.AdaptiveAvgPool2d(new long[] { 1, 1 });
        fc = nn.Linear(64, numClasses);
        RegisterComponents();
        TorchvisionInit.Apply(this);
    }

    private static Sequential MakeStage(long inPlanes, long planes, int blocks, long stride)
    {
        var modules = new nn.Module<Tensor, Tensor>[blocks];
        for (int i = 0; i < blocks; i++)
            modules[i] = new CifarBasicBlock(i == 0 ? inPlanes : planes, planes, i == 0 ? stride : 1);
        return nn.Sequential(modules);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        x = bn1.call(conv1.call(x)).relu_();
        x = layer3.call(layer2.call(layer1.call(x)));
        return fc.call(avgpool.call(x).flatten(1));
    }
}
