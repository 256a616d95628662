using Bcbp.Training.Config;
using Bcbp.Training.Data;
using SkiaSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Data;

/// <summary>ImageNet-style folders of PNG/JPEG files written with SkiaSharp.</summary>
public class ImageFolderTests
{
    string _root = "";
    static readonly (string Name, SKColor Color)[] Classes = { ("cat", new SKColor(200, 30, 40)), ("dog", new SKColor(20, 180, 90)), ("eel", new SKColor(10, 20, 230)) };

    [OneTimeSetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
    [SetUp] public void SetUp() => _root = DataTestFiles.TempDir();
    [TearDown] public void TearDown() => Directory.Delete(_root, true);

    /// <summary>Solid-color images of each class, with a white left half-stripe so flips show; PNG and JPEG mixed.</summary>
    void WriteSplit(string split, int perClass, int width = 40, int height = 30)
    {
        foreach (var (name, color) in Classes)
        {
            var dir = Path.Combine(_root, split, name);
            Directory.CreateDirectory(dir);
            for (int i = 0; i < perClass; i++)
            {
                using var bmp = new SKBitmap(width, height);
                using (var canvas = new SKCanvas(bmp)) canvas.Clear(color);
                bool png = i % 2 == 0;
                using var data = bmp.Encode(png ? SKEncodedImageFormat.Png : SKEncodedImageFormat.Jpeg, 95);
                File.WriteAllBytes(Path.Combine(dir, $"img{i}.{(png ? "png" : "JPG")}"), data.ToArray());
            }
        }
    }

    DataConfig Config() => new() { Dataset = "image_folder", Root = _root, ImageSize = 16, Workers = 2 };

    [Test]
    public void LoadsClassesInOrderWithCenterCropColors()
    {
        WriteSplit("train", 4);
        WriteSplit("val", 2);
        File.WriteAllText(Path.Combine(_root, "train", "cat", "notes.txt"), "not an image");
        var (train, test) = DatasetFactory.Create(Config(), CPU, 0);
        Assert.That((train.Count, test.Count, train.NumClasses, train.Channels, train.ImageSize), Is.EqualTo((12, 6, 3, 3, (16, 16))));
        Assert.That(((ImageFolderSource)train).Classes, Is.EqualTo(new[] { "cat", "dog", "eel" }));
        var (x, y) = test.Batches(6, false, false, 0).Single();
        Assert.That(x.shape, Is.EqualTo(new long[] { 6, 3, 16, 16 }));
        Assert.That(y.data<long>().ToArray(), Is.EqualTo(new long[] { 0, 0, 1, 1, 2, 2 }));
        double[] mean = { 0.485, 0.456, 0.406 }, std = { 0.229, 0.224, 0.225 };
        for (int i = 0; i < 6; i++)
        {
            var color = Classes[i / 2].Color;
            byte[] rgb = { color.Red, color.Green, color.Blue };
            for (int c = 0; c < 3; c++)
            {
                double expected = (rgb[c] / 255.0 - mean[c]) / std[c];
                // PNG is exact; JPEG (odd files) loses a little of a saturated color.
                Assert.That(x[i, c, 8, 8].item<float>(), Is.EqualTo(expected).Within(i % 2 == 0 ? 1e-4 : 0.15), $"image {i} channel {c}");
            }
        }
    }

    [Test]
    public void RandomResizedCropIsDeterministicPerEpochAndKeepsShape()
    {
        WriteSplit("train", 3, width: 64, height: 48);
        WriteSplit("val", 1);
        // A black left quarter makes crops and flips visible in the pixels.
        foreach (var file in Directory.GetFiles(Path.Combine(_root, "train"), "*.png", SearchOption.AllDirectories))
        {
            using var bmp = SKBitmap.Decode(file);
            using (var canvas = new SKCanvas(bmp)) canvas.DrawRect(0, 0, 16, 48, new SKPaint { Color = SKColors.Black });
            using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(file, data.ToArray());
        }
        var (train, _) = DatasetFactory.Create(Config(), CPU, seed: 5);
        float[] Run(int epoch) => train.Batches(3, true, true, epoch).SelectMany(b => b.Input.data<float>().ToArray()).ToArray();
        var a = Run(1);
        Assert.That(a.Length, Is.EqualTo(9 * 3 * 16 * 16));
        Assert.That(Run(1), Is.EqualTo(a), "same (seed, epoch): same crops, whatever thread decoded them");
        Assert.That(Run(2), Is.Not.EqualTo(a));
        var plain = train.Batches(3, false, false, 1).SelectMany(b => b.Input.data<float>().ToArray()).ToArray();
        Assert.That(plain, Is.Not.EqualTo(a));
    }

    [Test]
    public void MissingSplitAndCorruptImageAreNamed()
    {
        WriteSplit("train", 1);
        var msg = Assert.Throws<DirectoryNotFoundException>(() => DatasetFactory.Create(Config(), CPU, 0))!.Message;
        Assert.That(msg, Does.Contain($"'{Path.Combine(_root, "val")}' not found").And.Contain("train/CLASS/*.jpg"));
        WriteSplit("val", 1);
        var bad = Path.Combine(_root, "val", "dog", "broken.jpg");
        File.WriteAllText(bad, "this is not a jpeg");
        var (_, test) = DatasetFactory.Create(Config(), CPU, 0);
        var ex = Assert.Throws<InvalidDataException>(() => test.Batches(2, false, false, 0).ToList())!;
        Assert.That(ex.Message, Does.Contain($"'{bad}' could not be decoded"));
        Directory.CreateDirectory(Path.Combine(_root, "val", "fox"));
        Assert.That(Assert.Throws<InvalidDataException>(() => DatasetFactory.Create(Config(), CPU, 0))!.Message,
                    Does.Contain("class folders that train/ lacks: fox"));
    }
}
