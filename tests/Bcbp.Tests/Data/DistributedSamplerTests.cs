using Bcbp.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Data;

public class DistributedSamplerTests
{
    static long[] Order(int n, int epoch) => DataRng.For(5, epoch, 0).Permutation(n);

    [TestCase(10, 3)]
    [TestCase(12, 4)]
    [TestCase(2, 4)]
    public void PaddedShardsAreEqualDisjointOverTheSplitAndCoverIt(int n, int w)
    {
        var order = Order(n, 0);
        var shards = Enumerable.Range(0, w).Select(r => DistributedSampler.Indices(order, new DataShard(r, w), ShardRemainder.Pad)).ToList();
        int per = (n + w - 1) / w;
        Assert.That(shards.Select(s => s.Length), Is.All.EqualTo(per), "every rank takes the same number of steps");
        Assert.That(shards.Select((s, r) => DistributedSampler.CountOf(n, new DataShard(r, w), ShardRemainder.Pad)), Is.All.EqualTo(per));
        var all = shards.SelectMany(s => s).ToList();
        Assert.That(all.Distinct().Order(), Is.EqualTo(Enumerable.Range(0, n).Select(i => (long)i)), "together they cover the split");
        // PyTorch's padding: the interleaved sequence is the order followed by its start, as long as needed.
        var interleaved = Enumerable.Range(0, per * w).Select(i => shards[i % w][i / w]);
        Assert.That(interleaved, Is.EqualTo(Enumerable.Range(0, per * w).Select(i => order[i % n])));
    }

    [Test]
    public void ExactShardsHoldEveryExampleOnceAndDropShardsTheSameCount()
    {
        var order = Order(11, 2);
        var exact = Enumerable.Range(0, 3).Select(r => DistributedSampler.Indices(order, new DataShard(r, 3), ShardRemainder.Exact)).ToList();
        Assert.That(exact.Select(s => s.Length), Is.EqualTo(new[] { 4, 4, 3 }));
        Assert.That(exact.Select((s, r) => DistributedSampler.CountOf(11, new DataShard(r, 3), ShardRemainder.Exact)), Is.EqualTo(new[] { 4, 4, 3 }));
        Assert.That(exact.SelectMany(s => s).Order(), Is.EqualTo(order.Order()), "every example exactly once");
        var drop = Enumerable.Range(0, 3).Select(r => DistributedSampler.Indices(order, new DataShard(r, 3), ShardRemainder.Drop)).ToList();
        Assert.That(drop.Select(s => s.Length), Is.All.EqualTo(3));
        Assert.That(drop.SelectMany(s => s).Distinct().Count(), Is.EqualTo(9), "disjoint; the order's last 2 are dropped");
        Assert.That(drop.SelectMany(s => s), Has.None.AnyOf(order[9], order[10]));
    }

    [Test]
    public void OneRankIsTheWholeOrder()
    {
        var order = Order(7, 1);
        Assert.That(DistributedSampler.Indices(order, DataShard.Whole, ShardRemainder.Pad), Is.EqualTo(order));
    }

    /// <summary>Step k of the shards of a TensorBatchSource, put together, is step k of the whole source with W times
    /// the batch: the property that makes data-parallel SGD the same computation as one-process SGD.</summary>
    [Test]
    public void ShardBatchesTogetherAreTheWholeSourcesBatch()
    {
        TorchSharp.torch.random.manual_seed(0);
        var images = randint(0, 255, new long[] { 24, 1, 4, 4 }, dtype: ScalarType.Byte);
        var labels = arange(24, dtype: ScalarType.Int64);
        using var whole = new TensorBatchSource(images, labels, 24, new[] { 0.5 }, new[] { 0.25 }, 0, false, 9, CPU);
        var shards = Enumerable.Range(0, 2).Select(r => whole.Shard(new DataShard(r, 2), ShardRemainder.Pad)).ToList();
        Assert.That(shards.Select(s => s.Count), Is.All.EqualTo(12));
        foreach (int epoch in new[] { 0, 3 })
        {
            var one = whole.Batches(8, shuffle: true, augment: false, epoch).Select(b => b.Target.data<long>().ToArray()).ToList();
            var parts = shards.Select(s => s.Batches(4, shuffle: true, augment: false, epoch).Select(b => b.Target.data<long>().ToArray()).ToList()).ToList();
            Assert.That(parts[0], Has.Count.EqualTo(one.Count));
            for (int k = 0; k < one.Count; k++)
                Assert.That(parts[0][k].Concat(parts[1][k]).Order(), Is.EqualTo(one[k].Order()), $"epoch {epoch} step {k}");
        }
        // Evaluation shards (no shuffle, exact): every test image once.
        var eval = Enumerable.Range(0, 2).Select(r => whole.Shard(new DataShard(r, 2), ShardRemainder.Exact))
            .SelectMany(s => s.Batches(5, shuffle: false, augment: false, 0).SelectMany(b => b.Target.data<long>().ToArray())).ToList();
        Assert.That(eval.Order(), Is.EqualTo(Enumerable.Range(0, 24).Select(i => (long)i)));
    }
}
