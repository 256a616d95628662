using System.Runtime.InteropServices;
using Bcbp.Training.Data;
using SkiaSharp;

namespace Bcbp.Tests.Data;

/// <summary>The crop-aware decoder against decode-whole-then-crop, on JPEGs written with SkiaSharp.</summary>
public class CropDecoderTests
{
    string _dir = "";
    [SetUp] public void SetUp() => _dir = DataTestFiles.TempDir();
    [TearDown] public void TearDown() => Directory.Delete(_dir, true);

    /// <summary>A photo-like image: smooth gradients and soft blobs (what DCT scaling and bilinear resampling agree
    /// on), with a sharp-edged dark bar at the left so a mirrored or shifted crop shows.</summary>
    internal static string WriteJpeg(string dir, string name, int width, int height, int quality = 92, bool grayscale = false)
    {
        using var bmp = new SKBitmap(width, height, grayscale ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque);
        using (var canvas = new SKCanvas(bmp))
        {
            using var gradient = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(width, height),
                new[] { new SKColor(230, 40, 30), new SKColor(30, 200, 60), new SKColor(20, 40, 220) }, SKShaderTileMode.Clamp);
            canvas.DrawRect(0, 0, width, height, new SKPaint { Shader = gradient });
            var rng = new Random(width * 7 + height);
            for (int i = 0; i < 12; i++)
            {
                using var blur = SKImageFilter.CreateBlur(width / 30f, width / 30f);
                canvas.DrawCircle(rng.Next(width), rng.Next(height), width / 10f + rng.Next(width / 8),
                                  new SKPaint { Color = new SKColor((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)), ImageFilter = blur });
            }
            canvas.DrawRect(width / 20f, 0, width / 12f, height, new SKPaint { Color = new SKColor(10, 10, 10) });
        }
        var path = Path.Combine(dir, name);
        using var data = bmp.Encode(SKEncodedImageFormat.Jpeg, quality);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    internal static byte[] Decode(string path, CropBox box, bool flip, int size, DecodeRoute route)
    {
        var pixels = new byte[size * size * CropDecoder.BytesPerPixel];
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        try { CropDecoder.Decode(path, (_, _) => (box, flip), size, handle.AddrOfPinnedObject(), route); }
        finally { handle.Free(); }
        return pixels;
    }

    /// <summary>Mean and max absolute difference over the RGB bytes (alpha must be 255 in both).</summary>
    static (double Mean, int Max) Diff(byte[] a, byte[] b)
    {
        long sum = 0; int max = 0, n = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (i % 4 == 3) { Assert.That((a[i], b[i]), Is.EqualTo(((byte)255, (byte)255)), "alpha"); continue; }
            int d = Math.Abs(a[i] - b[i]);
            sum += d; max = Math.Max(max, d); n++;
        }
        return (sum / (double)n, max);
    }

    static readonly object[] Crops =
    {
        // (image width, height, crop, output size): corners and edges, odd offsets, up- and downscaling.
        new object[] { 500, 375, new CropBox(0, 0, 500, 375), 224 },
        new object[] { 500, 375, new CropBox(0, 0, 97, 131), 224 },
        new object[] { 500, 375, new CropBox(403, 244, 97, 131), 224 },
        new object[] { 500, 375, new CropBox(173, 0, 211, 375), 224 },
        new object[] { 500, 375, new CropBox(37, 59, 301, 287), 112 },
        new object[] { 333, 251, new CropBox(1, 3, 331, 247), 64 },
        new object[] { 333, 251, new CropBox(290, 200, 43, 51), 32 },
    };

    [TestCaseSource(nameof(Crops))]
    public void CropOnlyDecodeMatchesWholeDecodeThenCrop(int width, int height, CropBox box, int size)
    {
        var path = WriteJpeg(_dir, "a.jpg", width, height);
        foreach (bool flip in new[] { false, true })
        {
            var whole = Decode(path, box, flip, size, DecodeRoute.Whole);
            var (mean, max) = Diff(Decode(path, box, flip, size, DecodeRoute.CropOnly), whole);
            TestContext.Out.WriteLine($"{box} -> {size} flip {flip}: crop-only vs whole mean {mean:F3} max {max}");
            // The same IDCT output; only the chroma upsampling at the subset's edges may differ by a level or so.
            Assert.That(mean, Is.LessThan(0.5), $"{box} flip {flip}");
            Assert.That(max, Is.LessThanOrEqualTo(24), $"{box} flip {flip}");
        }
    }

    [TestCaseSource(nameof(Crops))]
    public void DctScaledDecodeStaysCloseToWholeDecode(int width, int height, CropBox box, int size)
    {
        var path = WriteJpeg(_dir, "a.jpg", width, height);
        var whole = Decode(path, box, false, size, DecodeRoute.Whole);
        var (mean, max) = Diff(Decode(path, box, false, size, DecodeRoute.Auto), whole);
        TestContext.Out.WriteLine($"{box} -> {size}: auto vs whole mean {mean:F3} max {max}");
        // A k/8 DCT scale is a low-pass filter, bilinear without mipmaps is not: they agree on smooth content up to
        // the resampling differences at sharp edges.
        Assert.That(mean, Is.LessThan(2.5), $"{box}");
    }

    [Test]
    public void GrayscaleJpegDecodesToGrayBgrxByEitherRoute()
    {
        var path = WriteJpeg(_dir, "g.jpg", 301, 203, grayscale: true);
        var box = new CropBox(150, 40, 151, 163);
        var whole = Decode(path, box, true, 64, DecodeRoute.Whole);
        var crop = Decode(path, box, true, 64, DecodeRoute.CropOnly);
        Assert.That(Diff(crop, whole).Max, Is.LessThanOrEqualTo(1));
        for (int p = 0; p < 64 * 64; p++)
            Assert.That((crop[4 * p], crop[4 * p + 1]), Is.EqualTo((crop[4 * p + 2], crop[4 * p + 2])), $"pixel {p} is gray");
    }

    [Test]
    public void IdentityCropGivesTheStoredPixelsAndFlipMirrorsThem()
    {
        // A PNG (exact, decoded whole) with a half-transparent column: alpha is dropped and the stored colours kept, as
        // torchvision's convert("RGB") does; a 1:1 crop reproduces the pixels in B, G, R order.
        const int w = 20, h = 12;
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                bmp.SetPixel(x, y, new SKColor((byte)(10 * x), (byte)(20 * y), (byte)(x + y), (byte)(x == 0 ? 128 : 255)));
        var path = Path.Combine(_dir, "p.png");
        using (var data = bmp.Encode(SKEncodedImageFormat.Png, 100)) File.WriteAllBytes(path, data.ToArray());
        var box = new CropBox(4, 0, 12, 12);
        var plain = Decode(path, box, false, 12, DecodeRoute.Auto);
        var mirrored = Decode(path, box, true, 12, DecodeRoute.Auto);
        for (int y = 0; y < 12; y++)
            for (int x = 0; x < 12; x++)
            {
                int sx = box.X + x, p = 4 * (y * 12 + x), q = 4 * (y * 12 + 11 - x);
                byte[] expected = { (byte)(sx + y), (byte)(20 * y), (byte)(10 * sx), 255 };
                Assert.That(plain[p..(p + 4)], Is.EqualTo(expected), $"pixel ({x}, {y})");
                Assert.That(mirrored[q..(q + 4)], Is.EqualTo(expected), $"mirrored pixel ({x}, {y})");
            }
        var edge = Decode(path, new CropBox(0, 5, 4, 4), false, 4, DecodeRoute.Auto);
        // (Half-transparent: an encoder may zero the colour of a fully transparent pixel.)
        Assert.That(edge[0..4].Select(b => (int)b), Is.EqualTo(new[] { 5, 100, 0, 255 }).Within(2), "half-transparent pixel (0, 5): its colour, opaque");
    }
}
