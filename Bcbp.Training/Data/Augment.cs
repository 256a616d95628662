using static TorchSharp.torch;

namespace Bcbp.Training.Data;

/// <summary>
/// Batch augmentations as tensor ops, so they run where the batch lives (GPU or CPU) with no per-image loop.
/// The random parameters come in as arguments (from <see cref="DataRng"/>), which keeps these functions pure.
/// </summary>
public static class Augment
{
    /// <summary>
    /// torchvision's RandomCrop(size, padding): pads every image of <paramref name="images"/> [B, C, H, W] by
    /// <paramref name="padding"/> zeros on each side and cuts the H x W window whose top-left corner is
    /// (<paramref name="offsetY"/>[b], <paramref name="offsetX"/>[b]) in the padded image (offsets in [0, 2*padding]).
    /// Two gathers of per-sample row and column indices; works for any dtype.
    /// </summary>
    public static Tensor RandomCrop(Tensor images, int padding, long[] offsetY, long[] offsetX)
    {
        long b = images.shape[0];
        if (offsetY.Length != b || offsetX.Length != b)
            throw new ArgumentException($"RandomCrop: {b} images but {offsetY.Length}/{offsetX.Length} offsets");
        using var oy = tensor(offsetY, device: images.device);
        using var ox = tensor(offsetX, device: images.device);
        return RandomCrop(images, padding, oy, ox);
    }

    /// <summary><see cref="RandomCrop(Tensor, int, long[], long[])"/> with the offsets as int64 [B] tensors on the
    /// images' device (no host-to-device copy per batch).</summary>
    public static Tensor RandomCrop(Tensor images, int padding, Tensor offsetY, Tensor offsetX)
    {
        long b = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        if (offsetY.numel() != b || offsetX.numel() != b)
            throw new ArgumentException($"RandomCrop: {b} images but {offsetY.numel()}/{offsetX.numel()} offsets");
        if (padding == 0) return images.alias();
        using var padded = nn.functional.pad(images, new long[] { padding, padding, padding, padding });
        var device = images.device;
        using var oy = offsetY.view(b, 1, 1, 1);
        using var ox = offsetX.view(b, 1, 1, 1);
        using var rowsBase = arange(h, dtype: ScalarType.Int64, device: device).view(1, 1, h, 1);
        using var colsBase = arange(w, dtype: ScalarType.Int64, device: device).view(1, 1, 1, w);
        using var rows = (rowsBase + oy).expand(b, c, h, w + 2 * padding);
        using var keptRows = padded.gather(2, rows);
        using var cols = (colsBase + ox).expand(b, c, h, w);
        return keptRows.gather(3, cols);
    }

    /// <summary>Mirrors left-right the images of <paramref name="images"/> [B, C, H, W] whose <paramref name="flip"/> is true.</summary>
    public static Tensor HorizontalFlip(Tensor images, bool[] flip)
    {
        if (flip.Length != images.shape[0])
            throw new ArgumentException($"HorizontalFlip: {images.shape[0]} images but {flip.Length} flags");
        using var mask = tensor(flip, device: images.device);
        return HorizontalFlip(images, mask);
    }

    /// <summary><see cref="HorizontalFlip(Tensor, bool[])"/> with the flags as a bool [B] tensor on the images' device.</summary>
    public static Tensor HorizontalFlip(Tensor images, Tensor flip)
    {
        if (flip.numel() != images.shape[0])
            throw new ArgumentException($"HorizontalFlip: {images.shape[0]} images but {flip.numel()} flags");
        using var mask = flip.view(-1, 1, 1, 1);
        using var mirrored = images.flip(3);
        return where(mask, mirrored, images);
    }

    /// <summary>uint8 [B, C, H, W] in 0..255 to float32 (x / 255 - mean) / std per channel.</summary>
    public static Tensor Normalize(Tensor images, double[] mean, double[] std)
    {
        var (scale, shift) = NormalizeConstants(mean, std, images.device);
        using (scale) using (shift) return Normalize(images, scale, shift);
    }

    /// <summary>The per-channel scale 1/(255 std) and shift mean/std of <see cref="Normalize(Tensor, double[], double[])"/>
    /// as [1, C, 1, 1] float32 tensors on <paramref name="device"/>: made once per source, not per batch.</summary>
    public static (Tensor Scale, Tensor Shift) NormalizeConstants(double[] mean, double[] std, Device device)
    {
        if (mean.Length != std.Length) throw new ArgumentException($"Normalize: mean has {mean.Length} values but std has {std.Length}");
        using var scope = NewDisposeScope();
        var scale = tensor(std.Select(s => (float)(1.0 / (255.0 * s))).ToArray(), device: device).view(1, -1, 1, 1);
        var shift = tensor(mean.Zip(std, (m, s) => (float)(m / s)).ToArray(), device: device).view(1, -1, 1, 1);
        scope.Detach(scale, shift);
        return (scale, shift);
    }

    /// <summary>uint8 [B, C, H, W] to float32 x * scale - shift (<see cref="NormalizeConstants"/>).</summary>
    public static Tensor Normalize(Tensor images, Tensor scale, Tensor shift)
    {
        if (images.dtype != ScalarType.Byte) throw new ArgumentException($"Normalize expects uint8 images, got {images.dtype}");
        long c = images.shape[1];
        if (scale.shape[1] != c)
            throw new ArgumentException($"Normalize: images have {c} channels but mean/std have {scale.shape[1]} values");
        // (x/255 - m)/s = x * (1/(255 s)) - m/s: one multiply and one subtract on the whole batch.
        var x = images.to(ScalarType.Float32); // a new tensor (the dtype changes), so in place is safe
        return x.mul_(scale).sub_(shift);
    }
}
