using static TorchSharp.torch;

namespace Bcbp.Training.Data;

/// <summary>
/// The byte layout of a decoded image-folder batch, from the decoder to the model:
/// <list type="number">
/// <item>Host and upload: uint8 <c>[B, H, W, 4]</c>, row-major (NHWC), each pixel B, G, R, 255 (Skia's native
/// BGRA8888, which the decoder draws straight into: no per-pixel shuffle on the CPU). <see cref="ImageBytes"/> bytes
/// an image; labels travel beside them as int64 <c>[B]</c>.</item>
/// <item>Device: <see cref="ToModelInput"/> reorders B, G, R to R, G, B, drops the 4th byte, converts to float32 and
/// normalizes, <c>(x / 255 - mean) / std</c> per channel, all on the device.</item>
/// <item>Model input: float32 of shape <c>[B, 3, H, W]</c> whose memory is NHWC (strides <c>[H*W*3, 1, W*3, 3]</c>,
/// PyTorch's channels_last), which convolutions take as it is (cuDNN's NHWC kernels); no copy back to NCHW.</item>
/// </list>
/// </summary>
public static class BatchLayout
{
    /// <summary>Bytes a pixel in the host and upload layout.</summary>
    public const int BytesPerPixel = CropDecoder.BytesPerPixel;

    /// <summary>Bytes of one <paramref name="size"/> x <paramref name="size"/> image in the host layout.</summary>
    public static long ImageBytes(int size) => (long)size * size * BytesPerPixel;

    /// <summary>The per-channel factors of <see cref="ToModelInput"/> on <paramref name="device"/>, made once per source:
    /// (x/255 - m)/s = x * (1/(255 s)) - m/s. Made once because a small tensor copied to a GPU from pageable memory
    /// waits for the device's queue to drain, which would stall the host once a batch.</summary>
    public static (Tensor Scale, Tensor Shift) Normalization(double[] mean, double[] std, Device device)
    {
        if (mean.Length != 3 || std.Length != 3)
            throw new ArgumentException($"image folders have 3 channels but mean/std have {mean.Length}/{std.Length} values");
        return (tensor(std.Select(s => (float)(1.0 / (255.0 * s))).ToArray(), device: device),
                tensor(mean.Zip(std, (m, s) => (float)(m / s)).ToArray(), device: device));
    }

    /// <summary>uint8 <c>[B, H, W, 4]</c> BGRX to normalized float32 <c>[B, 3, H, W]</c> with channels_last strides, where
    /// <paramref name="bgrx"/> lives; <paramref name="scale"/> and <paramref name="shift"/> from <see cref="Normalization"/>.</summary>
    public static Tensor ToModelInput(Tensor bgrx, Tensor scale, Tensor shift)
    {
        if (bgrx.dtype != ScalarType.Byte || bgrx.dim() != 4 || bgrx.shape[3] != BytesPerPixel)
            throw new ArgumentException($"expected uint8 [B, H, W, {BytesPerPixel}], got {bgrx.dtype} [{string.Join(", ", bgrx.shape)}]");
        using var rgb = bgrx.narrow(3, 0, 3).flip(3); // B, G, R -> R, G, B (a new contiguous tensor)
        using var x = rgb.to(ScalarType.Float32);
        x.mul_(scale).sub_(shift);
        return x.permute(0, 3, 1, 2);
    }
}
