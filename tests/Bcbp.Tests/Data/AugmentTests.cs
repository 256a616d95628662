using Bcbp.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Data;

/// <summary>The batch augmentations against per-pixel reference loops.</summary>
public class AugmentTests
{
    [OneTimeSetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    static Tensor Images(int b, int c, int h, int w) =>
        arange(b * c * h * w, dtype: ScalarType.Int32).remainder(251).add(1).to(ScalarType.Byte).view(b, c, h, w);

    [Test]
    public void RandomCropMatchesAPaddedWindowPerSample()
    {
        using var x = Images(3, 2, 5, 6);
        int pad = 2;
        long[] oy = { 0, 2, 4 }, ox = { 4, 2, 1 };
        using var y = Augment.RandomCrop(x, pad, oy, ox);
        Assert.That(y.shape, Is.EqualTo(x.shape));
        var xs = x.data<byte>().ToArray();
        var ys = y.data<byte>().ToArray();
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++)
                for (int i = 0; i < 5; i++)
                    for (int j = 0; j < 6; j++)
                    {
                        int si = i + (int)oy[b] - pad, sj = j + (int)ox[b] - pad;
                        byte expected = si < 0 || si >= 5 || sj < 0 || sj >= 6 ? (byte)0 : xs[((b * 2 + c) * 5 + si) * 6 + sj];
                        Assert.That(ys[((b * 2 + c) * 5 + i) * 6 + j], Is.EqualTo(expected), $"b{b} c{c} ({i},{j})");
                    }
        using var centered = Augment.RandomCrop(x, pad, new long[] { 2, 2, 2 }, new long[] { 2, 2, 2 });
        Assert.That(centered.eq(x).all().item<bool>(), "offset = padding is the identity");
    }

    [Test]
    public void HorizontalFlipMirrorsOnlyFlaggedImages()
    {
        using var x = Images(2, 3, 4, 5);
        using var y = Augment.HorizontalFlip(x, new[] { true, false });
        using var mirrored = x[0].flip(2);
        Assert.That(y[0].eq(mirrored).all().item<bool>());
        Assert.That(y[1].eq(x[1]).all().item<bool>());
        var row = y[0, 0, 0].data<byte>().ToArray();
        var orig = x[0, 0, 0].data<byte>().ToArray();
        Assert.That(row, Is.EqualTo(orig.Reverse().ToArray()));
    }

    [Test]
    public void NormalizeScalesToUnitThenStandardizesPerChannel()
    {
        using var x = tensor(new byte[] { 0, 255, 51, 102 }, new long[] { 1, 2, 1, 2 });
        using var y = Augment.Normalize(x, new[] { 0.5, 0.2 }, new[] { 0.25, 0.1 });
        Assert.That(y.dtype, Is.EqualTo(ScalarType.Float32));
        var v = y.data<float>().ToArray();
        Assert.That(v[0], Is.EqualTo((0 - 0.5) / 0.25).Within(1e-5));
        Assert.That(v[1], Is.EqualTo((1 - 0.5) / 0.25).Within(1e-5));
        Assert.That(v[2], Is.EqualTo((0.2 - 0.2) / 0.1).Within(1e-5));
        Assert.That(v[3], Is.EqualTo((0.4 - 0.2) / 0.1).Within(1e-5));
    }

    [Test]
    public void DataRngPermutationIsDeterministicAndAPermutation()
    {
        var a = DataRng.For(3, 1, 0).Permutation(1000);
        var b = DataRng.For(3, 1, 0).Permutation(1000);
        var c = DataRng.For(3, 2, 0).Permutation(1000);
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a, Is.Not.EqualTo(c));
        Assert.That(a.Order(), Is.EqualTo(Enumerable.Range(0, 1000).Select(i => (long)i)));
    }
}
