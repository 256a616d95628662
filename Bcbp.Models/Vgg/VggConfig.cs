namespace Bcbp.Models.Vgg;

/// <summary>torchvision's VGG layer configurations (<c>cfgs</c> A/B/D/E): conv widths, 0 = 2x2 max pool.</summary>
public static class VggConfig
{
    /// <summary>Marks a max-pool entry in a configuration.</summary>
    public const int MaxPool = 0;

    /// <summary>Layer configuration of VGG-<paramref name="depth"/> (11, 13, 16 or 19).</summary>
    public static int[] ForDepth(int depth) => depth switch
    {
        11 => new[] { 64, MaxPool, 128, MaxPool, 256, 256, MaxPool, 512, 512, MaxPool, 512, 512, MaxPool },
        13 => new[] { 64, 64, MaxPool, 128, 128, MaxPool, 256, 256, MaxPool, 512, 512, MaxPool, 512, 512, MaxPool },
        16 => new[] { 64, 64, MaxPool, 128, 128, MaxPool, 256, 256, 256, MaxPool, 512, 512, 512, MaxPool, 512, 512, 512, MaxPool },
        19 => new[] { 64, 64, MaxPool, 128, 128, MaxPool, 256, 256, 256, 256, MaxPool, 512, 512, 512, 512, MaxPool, 512, 512, 512, 512, MaxPool },
        _ => throw new ArgumentException($"VGG depth must be 11, 13, 16 or 19, got {depth}.", nameof(depth)),
    };
}
