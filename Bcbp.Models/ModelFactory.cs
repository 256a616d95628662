using Bcbp.Models.ResNet;
using Bcbp.Models.Vgg;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Models;

/// <summary>
/// Creates a model by architecture name: torchvision's names (resnet18/34/50/101, vgg11..19[_bn]) with
/// torchvision's parameter names, plus the CIFAR ResNets (resnet20/32/44/56/110) and the CIFAR VGG (vgg16_cifar).
/// </summary>
public static class ModelFactory
{
    private static readonly Dictionary<string, Func<int, int, nn.Module<Tensor, Tensor>>> Builders = new(StringComparer.OrdinalIgnoreCase)
    {
        ["resnet18"] = (c, i) => new ResNet.ResNet("resnet18", ResNetBlock.Basic, new[] { 2, 2, 2, 2 }, c, i),
        ["resnet34"] = (c, i) => new ResNet.ResNet("resnet34", ResNetBlock.Basic, new[] { 3, 4, 6, 3 }, c, i),
        ["resnet50"] = (c, i) => new ResNet.ResNet("resnet50", ResNetBlock.Bottleneck, new[] { 3, 4, 6, 3 }, c, i),
        ["resnet101"] = (c, i) => new ResNet.ResNet("resnet101", ResNetBlock.Bottleneck, new[] { 3, 4, 23, 3 }, c, i),
        ["vgg11"] = (c, i) => ImageNetVgg(11, false, c, i),
        ["vgg11_bn"] = (c, i) => ImageNetVgg(11, true, c, i),
        ["vgg13"] = (c, i) => ImageNetVgg(13, false, c, i),
        ["vgg13_bn"] = (c, i) => ImageNetVgg(13, true, c, i),
        ["vgg16"] = (c, i) => ImageNetVgg(16, false, c, i),
        ["vgg16_bn"] = (c, i) => ImageNetVgg(16, true, c, i),
        ["vgg19"] = (c, i) => ImageNetVgg(19, false, c, i),
        ["vgg19_bn"] = (c, i) => ImageNetVgg(19, true, c, i),
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

    private static Vgg.Vgg ImageNetVgg(int depth, bool batchNorm, int numClasses, int inChannels)
        => new($"vgg{depth}{(batchNorm ? "_bn" : "")}", VggConfig.ForDepth(depth), batchNorm, VggHead.ImageNet, numClasses, inChannels);
}
