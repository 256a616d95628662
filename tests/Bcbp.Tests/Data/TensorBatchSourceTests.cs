using Bcbp.Training.Config;
using Bcbp.Training.Data;
using static TorchSharp.torch;

namespace Bcbp.Tests.Data;

/// <summary>Shuffling and augmentation of device-resident datasets: coverage, determinism per epoch, invariants.</summary>
public class TensorBatchSourceTests
{
    [OneTimeSetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    /// <summary>Image i is filled with value i (labels i % 10), with a distinct left column so flips are visible.</summary>
    static TensorBatchSource Source(int n, int padding = 2, bool flip = true)
    {
        var images = arange(n, dtype: ScalarType.Int64).view(n, 1, 1, 1).expand(n, 1, 6, 6).to(ScalarType.Byte).clone();
        images[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Colon, 0] = tensor((byte)250);
        var labels = arange(n, dtype: ScalarType.Int64).remainder(10);
        return new TensorBatchSource(images, labels, 10, new[] { 0.0 }, new[] { 1.0 / 255 }, padding, flip, seed: 42, CPU);
    }

    static List<(float[] X, long[] Y)> Epoch(IBatchSource s, int batch, bool shuffle, bool augment, int epoch) =>
        s.Batches(batch, shuffle, augment, epoch).Select(b => (b.Input.data<float>().ToArray(), b.Target.data<long>().ToArray())).ToList();

    [Test]
    public void ShuffledEpochVisitsEveryExampleOnceAndIsReproducible()
    {
        using var s = Source(23);
        var a = Epoch(s, 5, true, false, epoch: 3);
        var again = Epoch(s, 5, true, false, epoch: 3);
        var other = Epoch(s, 5, true, false, epoch: 4);
        Assert.That(a.Select(b => b.Y.Length), Is.EqualTo(new[] { 5, 5, 5, 5, 3 }));
        // With scale 1/255 and mean 0, a normalized pixel equals the stored byte: pixel (1,1) is the example's index.
        var ids = a.SelectMany(b => Enumerable.Range(0, b.Y.Length).Select(i => (int)b.X[i * 36 + 7])).ToList();
        Assert.That(ids.Order(), Is.EqualTo(Enumerable.Range(0, 23)));
        Assert.That(ids, Is.Not.EqualTo(Enumerable.Range(0, 23)), "shuffled");
        Assert.That(a.SelectMany(b => b.Y), Is.EqualTo(ids.Select(i => (long)(i % 10))), "labels follow their images");
        Assert.That(again.SelectMany(b => b.X), Is.EqualTo(a.SelectMany(b => b.X)));
        Assert.That(other.SelectMany(b => b.X), Is.Not.EqualTo(a.SelectMany(b => b.X)));
    }

    [Test]
    public void EpochDrawsAreTheOnesABatchAtATimeWouldDraw()
    {
        // Drawn up front for the epoch (one upload), the crops and flips must be the per-batch draws of before, so
        // earlier runs' augmentation is reproduced exactly: offsets y, x per image, then the batch's flips.
        using var s = Source(13);
        var rng = DataRng.For(42, 2, 1);
        var expected = new List<float>();
        using var images = s.Images.to(ScalarType.Byte);
        for (int start = 0; start < 13; start += 5)
        {
            int size = Math.Min(5, 13 - start);
            var oy = new long[size]; var ox = new long[size]; var f = new bool[size];
            for (int i = 0; i < size; i++) { oy[i] = rng.NextInt(5); ox[i] = rng.NextInt(5); }
            for (int i = 0; i < size; i++) f[i] = rng.NextDouble() < 0.5;
            using var x = Augment.HorizontalFlip(Augment.RandomCrop(images.narrow(0, start, size), 2, oy, ox), f);
            using var n = Augment.Normalize(x, new[] { 0.0 }, new[] { 1.0 / 255 });
            expected.AddRange(n.data<float>().ToArray());
        }
        Assert.That(Epoch(s, 5, false, true, epoch: 2).SelectMany(b => b.X), Is.EqualTo(expected));
    }

    [TestCase(11, 5)]
    [TestCase(10, 5)]
    [TestCase(1, 5)]
    [TestCase(6, 5)]
    [TestCase(7, 1)]
    [TestCase(4, 8)]
    public void TheScheduleCountsTheBatchesTheSourceYields(int n, int batch)
    {
        // The learning-rate and pruning schedules step by Batching.Count: it must be what an epoch really has.
        using var s = Source(n);
        foreach (bool shuffle in new[] { true, false })
            Assert.That(Batching.Count(n, batch, shuffle), Is.EqualTo(Epoch(s, batch, shuffle, false, 0).Count), $"shuffle {shuffle}");
    }

    [Test]
    public void UnshuffledEpochIsInOrderAndKeepsTheLastSingleExample()
    {
        using var s = Source(11);
        var batches = Epoch(s, 5, false, false, 0);
        Assert.That(batches.Select(b => b.Y.Length), Is.EqualTo(new[] { 5, 5, 1 }));
        Assert.That(Epoch(s, 5, true, false, 0).Select(b => b.Y.Length), Is.EqualTo(new[] { 5, 5 }), "training drops a batch of one");
    }

    [Test]
    public void AugmentationKeepsShapeAndContentIsACropOrFlipOfTheImage()
    {
        using var s = Source(40, padding: 2);
        var a = s.Batches(40, true, true, 7).Select(b => (b.Input.clone(), b.Target.clone())).Single();
        var b2 = s.Batches(40, true, true, 7).Select(b => b.Input.clone()).Single();
        Assert.That(a.Item1.shape, Is.EqualTo(new long[] { 40, 1, 6, 6 }));
        Assert.That(a.Item1.eq(b2).all().item<bool>(), "same (seed, epoch): same augmentation");
        var x = a.Item1.data<float>().ToArray();
        int flippedCount = 0, shiftedCount = 0;
        for (int i = 0; i < 40; i++)
        {
            var img = x.AsSpan(i * 36, 36).ToArray();
            var values = img.Where(v => v != 0 && v != 250).Distinct().ToList();
            Assert.That(values, Has.Count.LessThanOrEqualTo(1), "only the image's own value, its marker column and zero padding");
            // The marker column (250) sits at column 0 of the source; after crop it moves by at most 2, after flip to the right.
            var markerCols = Enumerable.Range(0, 6).Where(c => Enumerable.Range(0, 6).Any(r => img[r * 6 + c] == 250)).ToList();
            if (markerCols.Count == 1 && markerCols[0] >= 3) flippedCount++;
            if (img.Contains(0f)) shiftedCount++;
        }
        Assert.That(flippedCount, Is.InRange(8, 32), "about half the images are flipped");
        Assert.That(shiftedCount, Is.GreaterThan(20), "most crops move the window into the padding");
        var plain = s.Batches(40, false, false, 7).Single().Input;
        Assert.That(plain.data<float>().ToArray().Count(v => v == 0), Is.EqualTo(30), "no augmentation: only image 0 has zeros (all but its marker column)");
    }

    [Test]
    public void SyntheticDataIsDeterministicAndLearnable()
    {
        var config = new DataConfig { Dataset = "synthetic", NumTrain = 600, NumTest = 200, Channels = 2, ImageSize = 16, NumClasses = 5 };
        var (train, test) = DatasetFactory.Create(config, CPU, seed: 1);
        var (train2, _) = DatasetFactory.Create(config, CPU, seed: 2);
        Assert.That((train.Count, test.Count, train.Channels, train.ImageSize, train.NumClasses), Is.EqualTo((600, 200, 2, (16, 16), 5)));
        var ti = ((TensorBatchSource)train).Images;
        Assert.That(ti.eq(((TensorBatchSource)train2).Images).all().item<bool>(), "the data does not depend on the run's seed");
        // A nearest-class-mean classifier on per-channel means of the training images must separate the classes.
        var trainBatch = train.Batches(600, false, false, 0).Single();
        var feats = trainBatch.Input.mean(new long[] { 2, 3 });
        var centers = stack(Enumerable.Range(0, 5).Select(c => feats.index_select(0, trainBatch.Target.eq(c).nonzero().squeeze(1)).mean(new long[] { 0 })).ToArray());
        var testBatch = test.Batches(200, false, false, 0).Single();
        var predicted = cdist(testBatch.Input.mean(new long[] { 2, 3 }), centers).argmin(1);
        double accuracy = predicted.eq(testBatch.Target).to(ScalarType.Float32).mean().item<float>();
        Assert.That(accuracy, Is.GreaterThan(0.9));
    }
}
