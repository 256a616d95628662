using Bcbp.Models.ResNet;
using Bcbp.Models.Vgg;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models;

/// <summary>
/// Creates a model by architecture name. The ImageNet architectures are TorchVision for TorchSharp's classes
/// (<c>torchvision.models.resnet50</c>, ...: torchvision's layer and parameter names); Bcbp's own classes remain only
/// where TorchVision has none: the CIFAR ResNets (resnet20/32/44/56/110) and the CIFAR VGG (vgg16_cifar). This is one
/// way to get a model: pruning and conversion take any <c>nn.Module&lt;Tensor, Tensor&gt;</c> (docs/pruning.md).
/// </summary>
public static class ModelFactory
{
    private static readonly Dictionary<string, Func<int, int, nn.Module<Tensor, Tensor>>> Builders = new(StringComparer.OrdinalIgnoreCase)
    {
        ["resnet18"] = (c, i) => ResNetStem(torchvision.models.resnet18(num_classes: c), i),
        ["resnet34"] = (c, i) => ResNetStem(torchvision.models.resnet34(num_classes: c), i),
        ["resnet50"] = (c, i) => ResNetStem(torchvision.models.resnet50(num_classes: c), i),
        ["resnet101"] = (c, i) => ResNetStem(torchvision.models.resnet101(num_classes: c), i),
        ["resnet152"] = (c, i) => ResNetStem(torchvision.models.resnet152(num_classes: c), i),
        ["wide_resnet50_2"] = (c, i) => ResNetStem(torchvision.models.wide_resnet50_2(num_classes: c), i),
        ["wide_resnet101_2"] = (c, i) => ResNetStem(torchvision.models.wide_resnet101_2(num_classes: c), i),
        ["resnext50_32x4d"] = (c, i) => ResNetStem(torchvision.models.resnext50_32x4d(num_classes: c), i),
        // TorchVision 0.107's resnext101_32x8d/_64x4d stack ResNet-50's [3, 4, 6, 3] blocks; its resnet101 with
        // torchvision's groups and width per group is the real ResNeXt-101 (state dict and parameter count tested).
        ["resnext101_32x8d"] = (c, i) => ResNetStem(torchvision.models.resnet101(num_classes: c, groups: 32, width_per_group: 8), i),
        ["resnext101_64x4d"] = (c, i) => ResNetStem(torchvision.models.resnet101(num_classes: c, groups: 64, width_per_group: 4), i),
        ["alexnet"] = (c, i) => Stem(torchvision.models.alexnet(num_classes: c), "features.0", i),
        ["mobilenet_v2"] = (c, i) => Stem(torchvision.models.mobilenet_v2(num_classes: c), "features.0.0", i),
        ["vgg11"] = (c, i) => ImageNetVgg(torchvision.models.vgg11(num_classes: c), i),
        ["vgg11_bn"] = (c, i) => ImageNetVgg(torchvision.models.vgg11_bn(num_classes: c), i),
        ["vgg13"] = (c, i) => ImageNetVgg(torchvision.models.vgg13(num_classes: c), i),
        ["vgg13_bn"] = (c, i) => ImageNetVgg(torchvision.models.vgg13_bn(num_classes: c), i),
        ["vgg16"] = (c, i) => ImageNetVgg(torchvision.models.vgg16(num_classes: c), i),
        ["vgg16_bn"] = (c, i) => ImageNetVgg(torchvision.models.vgg16_bn(num_classes: c), i),
        ["vgg19"] = (c, i) => ImageNetVgg(torchvision.models.vgg19(num_classes: c), i),
        ["vgg19_bn"] = (c, i) => ImageNetVgg(torchvision.models.vgg19_bn(num_classes: c), i),
        ["resnet20"] = (c, i) => new CifarResNet(20, c, i),
        ["resnet32"] = (c, i) => new CifarResNet(32, c, i),
        ["resnet44"] = (c, i) => new CifarResNet(44, c, i),
        ["resnet56"] = (c, i) => new CifarResNet(56, c, i),
        ["resnet110"] = (c, i) => new CifarResNet(110, c, i),
        ["vgg16_cifar"] = (c, i) => new Vgg.Vgg("vgg16_cifar", VggConfig.ForDepth(16), true, VggHead.Cifar, c, i),
    };

    /// <summary>Every architecture name <see cref="Create"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = Builders.Keys.ToArray();

    /// <summary>Builds <paramref name="arch"/> with fresh torchvision-style initialisation.</summary>
    /// <exception cref="ArgumentException">Unknown name (the message lists the known ones) or bad sizes.</exception>
    public static nn.Module<Tensor, Tensor> Create(string arch, int numClasses = 1000, int inChannels = 3)
    {
        if (!Builders.TryGetValue(arch ?? "", out var build))
            throw new ArgumentException(
                $"Unknown model arch '{arch}' (config key model.arch); known: {string.Join(", ", Names)}.", nameof(arch));
        if (numClasses < 1)
            throw new ArgumentException($"model.num_classes must be >= 1, got {numClasses}.", nameof(numClasses));
        if (inChannels < 1)
            throw new ArgumentException($"model.in_channels must be >= 1, got {inChannels}.", nameof(inChannels));
        return build(numClasses, inChannels);
    }

    /// <summary>TorchVision's ResNets take RGB only: another channel count gets a new stem conv of the same shape.</summary>
    private static nn.Module<Tensor, Tensor> ResNetStem(nn.Module<Tensor, Tensor> model, int inChannels) => Stem(model, "conv1", inChannels);

    /// <summary>TorchVision's model with a new stem conv at <paramref name="path"/> when the input is not RGB.</summary>
    private static nn.Module<Tensor, Tensor> Stem(nn.Module<Tensor, Tensor> model, string path, int inChannels)
    {
        if (inChannels != 3) ReplaceStem(model, path, inChannels);
        return model;
    }

    /// <summary>
    /// TorchVision's VGG with a new stem for other channel counts, and the clear error of <see cref="Vgg.Vgg"/> for
    /// inputs its five floor-mode pools would shrink to nothing (checked before the forward, as a pre-hook).
    /// </summary>
    private static nn.Module<Tensor, Tensor> ImageNetVgg(nn.Module<Tensor, Tensor> model, int inChannels)
    {
        if (inChannels != 3) ReplaceStem(model, "features.0", inChannels);
        const int minInputSize = 32;
        model.register_forward_pre_hook((_, x) =>
        {
            if (x.dim() != 4 || x.shape[2] < minInputSize || x.shape[3] < minInputSize)
                throw new ArgumentException(
                    $"an ImageNet VGG needs NCHW input of at least {minInputSize}x{minInputSize} (five 2x2 max pools), got [{string.Join(", ", x.shape)}]; " +
                    "resize the input or use the CIFAR VGG (vgg16_cifar), whose ceil-mode pools accept 28x28.");
            return x;
        });
        return model;
    }

    /// <summary>Puts a conv taking <paramref name="inChannels"/> channels at <paramref name="path"/>, torchvision-initialised.</summary>
    private static void ReplaceStem(nn.Module model, string path, int inChannels)
    {
        var old = (Conv2d)ModuleReplacer.Get(model, path);
        var (k, s, p) = (old.kernel_size, old.stride, old.padding!);
        var stem = nn.Conv2d(inChannels, old.out_channels, (k[0], k[1]), (s[0], s[1]), (p[0], p[1]), bias: old.bias is not null);
        TorchvisionInit.Conv(stem);
        ModuleReplacer.Replace(model, path, stem);
        old.Dispose();
    }
}
