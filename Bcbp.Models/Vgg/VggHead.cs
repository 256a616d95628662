namespace Bcbp.Models.Vgg;

/// <summary>
/// The pooling and classifier shape of a VGG: the CIFAR head (1x1 adaptive pool, 512-wide, ceil-mode max pools so
/// 28x28 inputs survive five poolings). TorchVision's own VGG is the ImageNet one (ModelFactory).
/// </summary>
/// <param name="PooledSize">Side of the adaptive average pool output.</param>
/// <param name="HiddenWidth">Width of the two hidden classifier layers.</param>
/// <param name="CeilMode">Max pools round up, so odd sizes (28 -> 14 -> 7 -> 4 -> 2 -> 1) never reach 0.</param>
public sealed record VggHead(int PooledSize, int HiddenWidth, bool CeilMode)
{
    /// <summary>CIFAR head: AdaptiveAvgPool2d(1), 512 -> 512 -> 512 -> classes.</summary>
    public static VggHead Cifar { get; } = new(1, 512, true);
}
