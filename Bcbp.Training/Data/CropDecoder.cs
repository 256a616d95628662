using SkiaSharp;

namespace Bcbp.Training.Data;

/// <summary>How <see cref="CropDecoder"/> gets the pixels of a crop out of a file.</summary>
public enum DecodeRoute
{
    /// <summary>The cheapest route the file allows: for a baseline or progressive JPEG, scanline decoding of the
    /// crop's rows and columns only, DCT-scaled where the crop is at least twice the target; anything else whole.</summary>
    Auto,
    /// <summary>Decode the whole image, then crop (the reference the other routes are checked against).</summary>
    Whole,
    /// <summary>Scanline decoding of the crop's rows and columns, never DCT-scaled.</summary>
    CropOnly,
}

/// <summary>
/// Decodes one image file into a <c>size x size</c> RGBA BGRA square (4 bytes a pixel: B, G, R, 255; row-major) at a caller's
/// address: only the part a crop needs is decoded, then resampled (bilinear) and mirrored when asked.
/// <para>JPEG (Skia's subset <c>GetPixels</c> is unimplemented for it): <see cref="SKCodec.StartScanlineDecode(SKImageInfo, SKCodecOptions)"/>
/// with the crop's columns as the subset (libjpeg-turbo's <c>jpeg_crop_scanline</c>: the IDCT runs on those columns
/// only), <see cref="SKCodec.SkipScanlines"/> for the rows above the crop (entropy decoding only), and
/// <see cref="SKCodec.GetScanlines"/> for the crop's rows; the rows below are never touched. Where the crop is at
/// least twice the target on both sides, the decoder also scales by k/8 in the DCT
/// (<see cref="SKCodec.GetScaledDimensions"/>), keeping the scaled crop at least <c>size</c> on both sides, which
/// divides the IDCT work by (8/k)^2 and acts as the low-pass filter a plain bilinear downscale lacks. PNG and other
/// formats are decoded whole.</para>
/// Thread-safe: each call has its own codec; the scratch buffer is per thread.
/// </summary>
public static class CropDecoder
{
    /// <summary>Bytes a pixel of the output: B, G, R and an alpha of 255, Skia's native BGRA8888. Skia draws straight
    /// into the batch buffer in this layout (its fast path), the device reorders the channels and drops the 4th.</summary>
    public const int BytesPerPixel = 4;

    /// <summary>Rows and columns of margin decoded around a crop, so bilinear taps at its edges read real pixels, as
    /// they do when the whole image is decoded.</summary>
    const int Margin = 1;

    [ThreadStatic] static byte[]? _scratch;

    /// <summary>
    /// Decodes <paramref name="path"/>, asks <paramref name="plan"/> for the crop (in source pixels, from the image's
    /// width and height) and whether to mirror it, and writes the <paramref name="size"/> x <paramref name="size"/>
    /// BGRA result to <paramref name="destination"/> (<c>size * size * 4</c> bytes, rows of <c>size * 4</c>).
    /// An undecodable or truncated file throws <see cref="InvalidDataException"/> naming it.
    /// </summary>
    public static unsafe void Decode(string path, Func<int, int, (CropBox Box, bool Flip)> plan, int size, IntPtr destination,
                                     DecodeRoute route = DecodeRoute.Auto)
    {
        using var codec = SKCodec.Create(path, out var result)
            ?? throw Corrupt(path, result == SKCodecResult.Success ? "not a JPEG/PNG/WebP/GIF/BMP image" : result.ToString());
        var info = codec.Info;
        var (box, flip) = plan(info.Width, info.Height);
        if (box.Width < 1 || box.Height < 1 || box.X < 0 || box.Y < 0 || box.X + box.Width > info.Width || box.Y + box.Height > info.Height)
            throw new ArgumentException($"crop {box} is outside the {info.Width}x{info.Height} image '{path}'");

        if (route != DecodeRoute.Whole && codec.EncodedFormat == SKEncodedImageFormat.Jpeg)
        {
            if (route == DecodeRoute.Auto && TryDecodeJpegCrop(codec, path, box, flip, size, destination, scale: true)) return;
            if (TryDecodeJpegCrop(codec, path, box, flip, size, destination, scale: false)) return; // a codec that refused the scale
        }
        DecodeWhole(codec, path, box, flip, size, destination);
    }

    /// <summary>The scanline route; false when the codec refuses a scanline decode of this file (then nothing has
    /// been written and the caller decodes whole).</summary>
    static unsafe bool TryDecodeJpegCrop(SKCodec codec, string path, CropBox box, bool flip, int size, IntPtr destination, bool scale)
    {
        var full = codec.Info;
        var scaled = full.Size;
        double shrink = Math.Min(box.Width, box.Height) / (double)size;
        if (scale && shrink >= 2)
        {
            // The smallest k/8 that keeps the scaled crop >= size on both sides (k <= 4 here).
            int k = Math.Clamp((int)Math.Ceiling(8.0 / shrink - 1e-9), 1, 8);
            var dims = codec.GetScaledDimensions(k / 8f);
            if (dims.Width < full.Width && dims.Width > 0 && dims.Height > 0) scaled = dims;
        }
        double fx = scaled.Width / (double)full.Width, fy = scaled.Height / (double)full.Height;
        // The crop in scaled pixels (fractional), and the whole pixels that cover it plus a margin.
        double x0 = box.X * fx, x1 = (box.X + box.Width) * fx, y0 = box.Y * fy, y1 = (box.Y + box.Height) * fy;
        int left = Math.Max(0, (int)Math.Floor(x0) - Margin), right = Math.Min(scaled.Width, (int)Math.Ceiling(x1) + Margin);
        int top = Math.Max(0, (int)Math.Floor(y0) - Margin), bottom = Math.Min(scaled.Height, (int)Math.Ceiling(y1) + Margin);
        int width = right - left, rows = bottom - top;

        var dstInfo = new SKImageInfo(scaled.Width, scaled.Height, SKColorType.Bgra8888, SKAlphaType.Opaque);
        var options = new SKCodecOptions(new SKRectI(left, 0, right, scaled.Height));
        if (codec.StartScanlineDecode(dstInfo, options) != SKCodecResult.Success)
        {
            // Some codecs take no column subset: decode full-width rows and cut the columns when drawing.
            if (codec.StartScanlineDecode(dstInfo) != SKCodecResult.Success) return false;
            left = 0; width = scaled.Width;
        }
        int rowBytes = width * BytesPerPixel;
        var scratch = Scratch(path, (long)rowBytes * rows);
        if (top > 0 && !codec.SkipScanlines(top)) throw Corrupt(path, "truncated or corrupt before the crop's first row");
        fixed (byte* p = scratch)
        {
            int got = codec.GetScanlines((IntPtr)p, rows, rowBytes);
            if (got < rows) throw Corrupt(path, $"truncated or corrupt: {got} of the crop's {rows} rows decoded");
            var src = new SKRect((float)(x0 - left), (float)(y0 - top), (float)(x1 - left), (float)(y1 - top));
            Draw(new SKImageInfo(width, rows, SKColorType.Bgra8888, SKAlphaType.Opaque), (IntPtr)p, rowBytes, src, flip, size, destination);
        }
        return true;
    }

    static unsafe void DecodeWhole(SKCodec codec, string path, CropBox box, bool flip, int size, IntPtr destination)
    {
        var full = codec.Info;
        bool opaque = full.AlphaType == SKAlphaType.Opaque;
        var info = new SKImageInfo(full.Width, full.Height, SKColorType.Bgra8888, opaque ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        var scratch = Scratch(path, info.BytesSize64);
        fixed (byte* p = scratch)
        {
            var result = codec.GetPixels(info, (IntPtr)p);
            if (result != SKCodecResult.Success)
                throw Corrupt(path, result == SKCodecResult.IncompleteInput ? "truncated" : result.ToString());
            // torchvision's convert("RGB") drops alpha and keeps the stored colours: do the same.
            if (!opaque)
                for (long i = 3; i < info.BytesSize64; i += 4) p[i] = 255;
            var src = new SKRect(box.X, box.Y, box.X + box.Width, box.Y + box.Height);
            Draw(info.WithAlphaType(SKAlphaType.Opaque), (IntPtr)p, info.RowBytes, src, flip, size, destination);
        }
    }

    /// <summary>Resamples <paramref name="src"/> of the decoded pixels to the whole size x size destination
    /// (bilinear, no mipmaps: the DCT scaling has already brought a large crop to less than twice the target).</summary>
    static void Draw(SKImageInfo info, IntPtr pixels, int rowBytes, SKRect src, bool flip, int size, IntPtr destination)
    {
        using var pixmap = new SKPixmap(info, pixels, rowBytes);
        using var image = SKImage.FromPixels(pixmap) ?? throw new InvalidOperationException("Skia refused the decoded pixels");
        var target = new SKImageInfo(size, size, SKColorType.Bgra8888, SKAlphaType.Opaque);
        using var surface = SKSurface.Create(target, destination, size * BytesPerPixel)
            ?? throw new InvalidOperationException("Skia could not draw into the batch buffer");
        var canvas = surface.Canvas;
        if (flip) canvas.Scale(-1, 1, size / 2f, 0);
        // Opaque BGRA onto opaque BGRA with the default SrcOver takes Skia's 8-bit bilinear fast path: six times
        // faster than RGBA or an explicit Src blend, which go through the float pipeline.
        canvas.DrawImage(image, src, new SKRect(0, 0, size, size), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None));
        canvas.Flush();
    }

    /// <summary>This thread's buffer for decoded pixels, grown to <paramref name="bytes"/>.</summary>
    static byte[] Scratch(string path, long bytes)
    {
        if (bytes > Array.MaxLength)
            throw Corrupt(path, $"{bytes / (1 << 20)} MiB of decoded pixels for the crop, more than one buffer can hold; shrink the image");
        if (_scratch is null || _scratch.Length < bytes) _scratch = GC.AllocateUninitializedArray<byte>((int)Math.Max(bytes, 1 << 20));
        return _scratch;
    }

    static InvalidDataException Corrupt(string path, string why) =>
        new($"'{path}' could not be decoded as an image ({why}); remove or replace it");
}
