using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.Vgg;

/// <summary>
/// torchvision's <c>VGG</c> name for name: <c>features.N</c> (conv[, bn], relu, ..., max pool), <c>avgpool</c>,
/// <c>classifier.0/3/6</c> (linear, relu, dropout, linear, relu, dropout, linear), with the <see cref="VggHead.Cifar"/>
/// head: the CIFAR VGG (vgg16_cifar). The ImageNet VGGs are TorchVision's (<see cref="ModelFactory"/>).
/// </summary>
public sealed class Vgg : nn.Module<Tensor, Tensor>
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;
    private readonly int minInputSize;

    /// <summary>Builds a VGG from a <see cref="VggConfig"/> layer list.</summary>
    public Vgg(string name, int[] config, bool batchNorm, VggHead head, int numClasses = 1000, int inChannels = 3)
        : base(name)
    {
        var layers = new List<nn.Module<Tensor, Tensor>>();
        long channels = inChannels;
        int pools = 0;
        foreach (var width in config)
        {
            if (width == VggConfig.MaxPool)
            {
                layers.Add(nn.MaxPool2d(kernel_size: 2, stride: 2, ceil_mode: head.CeilMode));
                pools++;
                continue;
            }
            layers.Add(nn.Conv2d(channels, width, kernel_size: 3, padding: 1));
            if (batchNorm) layers.Add(nn.BatchNorm2d(width));
            layers.Add(nn.ReLU(inplace: true));
            channels = width;
        }
        // Floor-mode pooling turns a side below 2^pools into 0 somewhere in the stack.
        minInputSize = head.CeilMode ? 1 : 1 << pools;
        features = nn.Sequential(layers.ToArray());
        avgpool = nn.AdaptiveAvgPool2d(new long[] { head.PooledSize, head.PooledSize });
        classifier = nn.Sequential(
            nn.Linear(channels * head.PooledSize * head.PooledSize, head.HiddenWidth),
            nn.ReLU(inplace: true),
            nn.Dropout(0.5),
            nn.Linear(head.HiddenWidth, head.HiddenWidth),
            nn.ReLU(inplace: true),
            nn.Dropout(0.5),
            nn.Linear(head.HiddenWidth, numClasses));
        RegisterComponents();
        TorchvisionInit.Apply(this, linearNormalStd: 0.01);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[2] < minInputSize || x.shape[3] < minInputSize)
            throw new ArgumentException(
                $"{GetName()} needs NCHW input of at least {minInputSize}x{minInputSize} (five 2x2 max pools), got [{string.Join(", ", x.shape)}]; " +
                "resize the input or use the CIFAR VGG (vgg16_cifar), whose ceil-mode pools accept 28x28.");
        x = avgpool.call(features.call(x));
        return classifier.call(x.flatten(1));
    }
}
