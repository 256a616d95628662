using System.Runtime.InteropServices;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using static TorchSharp.torch;

namespace Bcbp.Tests.Data;

/// <summary>The streaming image-folder pipeline end to end on the CPU: batches equal images decoded one by one,
/// whatever the number of workers; errors name the file.</summary>
public class ImageFolderPipelineTests
{
    string _root = "";
    [OneTimeSetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
    [SetUp] public void SetUp() => _root = DataTestFiles.TempDir();
    [TearDown] public void TearDown() => Directory.Delete(_root, true);

    static readonly double[] Mean = { 0.485, 0.456, 0.406 }, Std = { 0.229, 0.224, 0.225 };

    /// <summary>JPEGs of varied sizes (some large enough for DCT scaling) in two classes of each split.</summary>
    void WriteFolder(int perClass)
    {
        foreach (var split in new[] { "train", "val" })
            foreach (var cls in new[] { "a", "b" })
            {
                var dir = Path.Combine(_root, split, cls);
                Directory.CreateDirectory(dir);
                for (int i = 0; i < perClass; i++)
                    CropDecoderTests.WriteJpeg(dir, $"{i}.jpg", 120 + 37 * i, 90 + 23 * (i % 3), quality: 85 + i % 10);
            }
    }

    ImageFolderSource Source(string split, int workers, int size = 32)
    {
        var folder = ImageFolder.Scan(_root, split, split == "val" ? ImageFolder.Scan(_root, "train").Classes : null);
        return new ImageFolderSource(folder, size, Mean, Std, augmentEnabled: true, workers, seed: 11, CPU);
    }

    static (float[] Inputs, long[] Targets, long[] Shape) Epoch(ImageFolderSource source, int batch, bool shuffle, bool augment, int epoch)
    {
        var inputs = new List<float>();
        var targets = new List<long>();
        long[] shape = Array.Empty<long>();
        foreach (var (x, y) in source.Batches(batch, shuffle, augment, epoch))
        {
            shape = x.shape;
            using var c = x.contiguous();
            inputs.AddRange(c.data<float>().ToArray());
            targets.AddRange(y.data<long>().ToArray());
        }
        return (inputs.ToArray(), targets.ToArray(), shape);
    }

    [Test]
    public void BatchesAreTheSameForAnyNumberOfWorkers()
    {
        WriteFolder(7);
        var one = Epoch(Source("train", 1), 4, shuffle: true, augment: true, epoch: 3);
        var four = Epoch(Source("train", 4), 4, shuffle: true, augment: true, epoch: 3);
        Assert.That(one.Inputs.Length, Is.EqualTo(14 * 3 * 32 * 32));
        Assert.That(four.Targets, Is.EqualTo(one.Targets));
        Assert.That(four.Inputs, Is.EqualTo(one.Inputs), "same (seed, epoch): same crops and flips, whichever thread decoded them");
        var val = Epoch(Source("val", 1), 5, false, false, 0);
        Assert.That(Epoch(Source("val", 3), 5, false, false, 0).Inputs, Is.EqualTo(val.Inputs));
        Assert.That(Epoch(Source("train", 2), 4, true, true, 4).Inputs, Is.Not.EqualTo(one.Inputs), "another epoch, other crops");
    }

    [Test]
    public void EachBatchHoldsItsImagesDecodedOneByOneInTheEpochOrder()
    {
        WriteFolder(5);
        var source = Source("train", 3, size: 24);
        var folder = ImageFolder.Scan(_root, "train");
        var order = DataRng.For(11, 2, 0).Permutation(folder.Files.Count);
        var (inputs, targets, _) = Epoch(source, 3, shuffle: true, augment: true, epoch: 2);
        // 10 images in batches of 3: 3, 3, 3 and a last batch of one, which a shuffled epoch drops.
        Assert.That(targets.Length, Is.EqualTo(9));
        int size = 24, plane = size * size;
        var bgrx = new byte[plane * 4];
        var handle = GCHandle.Alloc(bgrx, GCHandleType.Pinned);
        try
        {
            for (int p = 0; p < 9; p++)
            {
                var file = folder.Files[(int)order[p]];
                Assert.That(targets[p], Is.EqualTo(folder.Labels[order[p]]), $"label of position {p}");
                var rng = DataRng.For(11, 2, 2 + p);
                CropDecoder.Decode(file, (w, h) => (CropBox.RandomResized(w, h, ref rng), rng.NextDouble() < 0.5), size, handle.AddrOfPinnedObject());
                for (int c = 0; c < 3; c++)
                    for (int q = 0; q < plane; q++)
                    {
                        double expected = (bgrx[4 * q + 2 - c] / 255.0 - Mean[c]) / Std[c];
                        Assert.That(inputs[(p * 3 + c) * plane + q], Is.EqualTo(expected).Within(1e-5), $"position {p} channel {c} pixel {q}");
                    }
            }
        }
        finally { handle.Free(); }
    }

    [Test]
    public void InputIsChannelsLastFloatOfTheModelShape()
    {
        WriteFolder(2);
        var (x, y) = Source("val", 2).Batches(4, false, false, 0).First();
        Assert.That(x.shape, Is.EqualTo(new long[] { 4, 3, 32, 32 }));
        Assert.That(x.dtype, Is.EqualTo(ScalarType.Float32));
        Assert.That(x.stride(), Is.EqualTo(new long[] { 32 * 32 * 3, 1, 32 * 3, 3 }), "NHWC memory: PyTorch's channels_last");
        Assert.That(y.data<long>().ToArray(), Is.EqualTo(new long[] { 0, 0, 1, 1 }));
    }

    [Test]
    public void TruncatedJpegStopsThePassWithOneErrorNamingTheFile()
    {
        WriteFolder(3);
        var bad = Path.Combine(_root, "val", "b", "1.jpg");
        var bytes = File.ReadAllBytes(bad);
        File.WriteAllBytes(bad, bytes[..(bytes.Length / 3)]);
        var source = Source("val", 3);
        var ex = Assert.Throws<InvalidDataException>(() => source.Batches(2, false, false, 0).ToList())!;
        Assert.That(ex.Message, Does.Contain($"'{bad}' could not be decoded").And.Contain("remove or replace it"));
        // The source is usable again: a pass over the good images (the first batch) works.
        Assert.That(source.Batches(2, false, false, 0).First().Input.shape[0], Is.EqualTo(2));
    }

    /// <summary>The images of one pass, one float array each.</summary>
    static List<float[]> Images(IBatchSource source, int batch, bool shuffle, int epoch)
    {
        var images = new List<float[]>();
        foreach (var (x, _) in source.Batches(batch, shuffle, shuffle, epoch))
            for (int i = 0; i < x.shape[0]; i++)
            {
                using var one = x[i].contiguous();
                images.Add(one.data<float>().ToArray());
            }
        return images;
    }

    [Test]
    public void ShardsTogetherDecodeTheImagesCropsAndFlipsOfOneProcess()
    {
        WriteFolder(5); // 10 training images, 10 validation images
        var whole = Source("train", 2);
        var single = Images(whole, 5, shuffle: true, epoch: 1);
        Assert.That(single, Has.Count.EqualTo(10));
        for (int r = 0; r < 2; r++)
        {
            var shard = whole.Shard(new DataShard(r, 2), ShardRemainder.Pad);
            Assert.That(shard.Count, Is.EqualTo(5));
            var mine = Images(shard, 5, shuffle: true, epoch: 1);
            for (int i = 0; i < 5; i++)
                Assert.That(mine[i], Is.EqualTo(single[r + 2 * i]), $"rank {r} image {i} is position {r + 2 * i} of the epoch, crop and flip included");
        }
        // Evaluation: every image exactly once over the ranks.
        var val = Source("val", 1);
        var all = Images(val, 4, false, 0);
        var shards = Enumerable.Range(0, 3).Select(r => Images(val.Shard(new DataShard(r, 3), ShardRemainder.Exact), 4, false, 0)).ToList();
        Assert.That(shards.Select(s => s.Count), Is.EqualTo(new[] { 4, 3, 3 }));
        for (int r = 0; r < 3; r++)
            for (int i = 0; i < shards[r].Count; i++)
                Assert.That(shards[r][i], Is.EqualTo(all[r + 3 * i]));
        Assert.Throws<InvalidOperationException>(() => ((IShardableSource)whole.Shard(new DataShard(0, 2), ShardRemainder.Pad)).Shard(new DataShard(0, 2), ShardRemainder.Pad));
    }
}
