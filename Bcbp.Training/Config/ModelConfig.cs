namespace Bcbp.Training.Config;

/// <summary>The <c>model</c> section.</summary>
public sealed class ModelConfig : IConfigSection
{
    /// <summary>Architectures the model factory builds (torchvision names, CIFAR ResNets, CIFAR VGG-16).</summary>
    public static readonly IReadOnlyList<string> KnownArchs = new[]
    {
        "resnet18", "resnet34", "resnet50", "resnet101",
        "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
        "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "vgg16_cifar",
    };

    /// <summary>One of <see cref="KnownArchs"/>.</summary>
    public string Arch { get; set; } = "resnet20";
    public int NumClasses { get; set; } = 10;
    public int InChannels { get; set; } = 3;
    /// <summary>Path to a .pt/.pth (torch.save state dict) or .safetensors file to start from.</summary>
    public string? Pretrained { get; set; }
    /// <summary>false: load only the pretrained keys that match the model by name and shape and report the rest
    /// (PyTorch's <c>strict=False</c>).</summary>
    public bool Strict { get; set; } = true;
    /// <summary>true: keep the classifier (the last Linear) freshly initialised instead of loading the pretrained one,
    /// for another class count; the dense phase then trains for <c>train.epochs</c> (fine-tuning).</summary>
    public bool ResetHead { get; set; }

    /// <inheritdoc/>
    public void Validate(string path, ConfigErrors errors)
    {
        errors.OneOf(ConfigErrors.Join(path, "arch"), Arch, KnownArchs);
        errors.AtLeast(ConfigErrors.Join(path, "num_classes"), NumClasses, 1);
        errors.AtLeast(ConfigErrors.Join(path, "in_channels"), InChannels, 1);
        if (Pretrained is { } p && !(p.EndsWith(".pt") || p.EndsWith(".pth") || p.EndsWith(".safetensors")))
            errors.Add(ConfigErrors.Join(path, "pretrained"), $"expected a .pt, .pth or .safetensors file, got '{p}'");
        if (Pretrained is null && ResetHead)
            errors.Add(ConfigErrors.Join(path, "reset_head"), "needs model.pretrained (the checkpoint whose classifier is replaced)");
        if (Pretrained is null && !Strict)
            errors.Add(ConfigErrors.Join(path, "strict"), "needs model.pretrained (it says how the checkpoint is loaded)");
    }
}
