using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Distributed;
using Bcbp.Training.Fitting;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Tests.Fitting;

/// <summary>
/// The all-reduce overlapped with backward (<see cref="BucketReducer"/>) on the CPU, 2 ranks as threads
/// (<see cref="InProcessGroup"/>): the weights equal those of the all-reduce after backward; buckets complete during
/// backward, last layers first, and are reduced in that order before the earlier layers' gradients exist; what the
/// signals cannot see (modules run through <c>forward</c>) falls back to after backward; an error inside backward
/// surfaces from the step, and a parameter used outside its module is refused.
/// </summary>
public class BucketReducerTests
{
    [SetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    /// <summary>Three parameter-owning modules, called through <c>call</c> (so their hooks run).</summary>
    sealed class DeepNet : nn.Module<Tensor, Tensor>
    {
        readonly nn.Module<Tensor, Tensor> conv1, conv2, fc;
        readonly bool _tied;

        public DeepNet(bool tied = false) : base(nameof(DeepNet))
        {
            _tied = tied;
            conv1 = nn.Conv2d(1, 4, 3, padding: 1);
            conv2 = nn.Conv2d(4, 4, 3, padding: 1);
            fc = nn.Linear(4 * 4 * 4, 4);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var h = nn.functional.relu(conv2.call(nn.functional.relu(conv1.call(x))));
            var y = fc.call(nn.functional.avg_pool2d(h, 2).flatten(1));
            // A use of a parameter outside its module's forward (what the overlap must refuse).
            if (_tied) y = y + ((Linear)fc).weight.sum() * 1e-3;
            return y.MoveToOuterDisposeScope();
        }
    }


    // Per module (reverse registration order): fc 1040 B, conv2 592 B, conv1 160 B: 150 B buckets give one bucket per
    // module, fc's first.
    const long BucketPerModule = 150;

    sealed record RankResult(float[] Weights, IReadOnlyList<int> ReadyOrder, IReadOnlyList<BucketLaunch> Launches);

    /// <summary>Trains 2 epochs (6 steps) with <paramref name="world"/> thread ranks; each rank's weights and its
    /// reducer's record of the last step.</summary>
    static RankResult[] Train(int world, TrainConfig config, Func<nn.Module<Tensor, Tensor>> make, long bucketBytes,
        Func<ICollective, ICollective>? wrap = null)
    {
        using var whole = DataParallelNet.Data();
        using var group = new InProcessGroup(world);
        var results = new RankResult[world];
        var errors = new Exception?[world];
        var models = Enumerable.Range(0, world).Select(r => { random.manual_seed(r == 0 ? 1 : 100 + r); return make(); }).ToList();
        var threads = Enumerable.Range(0, world).Select(rank => new Thread(() =>
        {
            try
            {
                var collective = group.For(rank);
                if (wrap is not null) collective = wrap(collective);
                var shard = new DataShard(rank, world);
                var train = whole.Shard(shard, ShardRemainder.Pad);
                var test = whole.Shard(shard, ShardRemainder.Exact);
                int batch = 16 / world;
                int steps = (train.Count + batch - 1) / batch;
                var trainer = new Trainer(models[rank], config, TrainingPhase.Dense, 2, steps, CPU, log: Serilog.Core.Logger.None,
                    collective: collective, bucketBytes: bucketBytes);
                trainer.Fit(train, test, new FitOptions { BatchSize = batch, EvalBatchSize = 16, Augment = false, Seed = 3, WritesFiles = false });
                var weights = cat(models[rank].parameters().Select(p => p.detach().flatten()).ToArray()).data<float>().ToArray();
                results[rank] = new RankResult(weights, trainer.Reducer?.ReadyOrder.ToList() ?? new List<int>(),
                    trainer.Reducer?.Launches.ToList() ?? new List<BucketLaunch>());
            }
            catch (Exception e) { errors[rank] = e; group.Abort(); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (errors.FirstOrDefault(e => e is not null and not OperationCanceledException) is { } first) throw first;
        return results;
    }

    static TrainConfig Config(bool overlap, AmpMode amp = AmpMode.Off, bool channelsLast = false) => new()
    {
        Lr = 0.05, Momentum = 0.9, WeightDecay = 5e-4, LrSchedule = "cosine", OverlapReduce = overlap, Amp = amp, ChannelsLast = channelsLast,
    };

    static double WorstDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();

    [TestCase(AmpMode.Off, false)]
    [TestCase(AmpMode.Bf16, true)]
    public void OverlappedBucketsGiveTheWeightsOfTheAllReduceAfterBackward(AmpMode amp, bool channelsLast)
    {
        var after = Train(2, Config(overlap: false, amp, channelsLast), () => new DeepNet(), BucketPerModule);
        var overlapped = Train(2, Config(overlap: true, amp, channelsLast), () => new DeepNet(), BucketPerModule);
        Assert.That(overlapped[1].Weights, Is.EqualTo(overlapped[0].Weights), "every rank ends with exactly the same weights");
        double worst = WorstDifference(overlapped[0].Weights, after[0].Weights);
        Assert.That(worst, Is.LessThan(1e-6), $"overlapped vs after-backward all-reduce: largest weight difference {worst}");
        Assert.That(overlapped[0].Launches.All(l => l.DuringBackward), "every bucket was reduced inside backward");
        // The run moved: not a comparison of two untrained models.
        random.manual_seed(1);
        var initial = cat(new DeepNet().parameters().Select(p => p.detach().flatten()).ToArray()).data<float>().ToArray();
        Assert.That(WorstDifference(after[0].Weights, initial), Is.GreaterThan(1e-3));
    }

    [Test]
    public void BucketsAreReducedInTheOrderBackwardCompletesThemBeforeTheEarlierLayersGradients()
    {
        var ranks = Train(2, Config(overlap: true), () => new DeepNet(), BucketPerModule);
        foreach (var r in ranks)
        {
            Assert.That(r.ReadyOrder, Is.EqualTo(new[] { 0, 1, 2 }), "fc's bucket completes first, conv1's last");
            Assert.That(r.Launches.Select(l => l.Bucket), Is.EqualTo(new[] { 0, 1, 2 }));
            Assert.That(r.Launches.All(l => l.DuringBackward));
            // fc's bucket started when only fc's 2 parameters had their gradient; conv2's when 4 had (conv1's not yet).
            Assert.That(r.Launches.Select(l => l.ParametersDelivered), Is.EqualTo(new[] { 2, 4, 6 }));
        }
    }

    [Test]
    public void ModulesRunThroughForwardFallBackToTheReductionAfterBackward()
    {
        var after = Train(2, Config(overlap: false), () => new DataParallelNet(), 16);
        var overlapped = Train(2, Config(overlap: true), () => new DataParallelNet(), 16);
        Assert.That(overlapped[0].Weights, Is.EqualTo(after[0].Weights), "same reductions in the same order: bit for bit");
        Assert.That(overlapped[0].ReadyOrder, Is.Empty);
        Assert.That(overlapped[0].Launches.Select(l => (l.Bucket, l.DuringBackward)), Is.EqualTo(new[] { (0, false), (1, false), (2, false), (3, false) }));
    }

    sealed class FailingCollective(ICollective inner) : ICollective
    {
        public int Rank => inner.Rank;
        public int WorldSize => inner.WorldSize;
        public void AllReduce(IReadOnlyList<Tensor> tensors, ReduceOp op) => inner.AllReduce(tensors, op);
        public void StartAllReduce(IReadOnlyList<Tensor> tensors, ReduceOp op) => throw new IOException("the interconnect is down");
        public void Broadcast(IReadOnlyList<Tensor> tensors, int root) => inner.Broadcast(tensors, root);
        public void Barrier() => inner.Barrier();
        public void Dispose() { }
    }

    [Test]
    public void AnErrorInsideBackwardSurfacesFromTheStep()
    {
        var e = Assert.Throws<IOException>(() => Train(1, Config(overlap: true), () => new DeepNet(), BucketPerModule, c => new FailingCollective(c)))!;
        Assert.That(e.Message, Is.EqualTo("the interconnect is down"));
    }

    [Test]
    public void AParameterUsedOutsideItsModuleIsRefusedWithTheFix()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Train(2, Config(overlap: true), () => new DeepNet(tied: true), BucketPerModule))!;
        Assert.That(e.Message, Does.Contain("'fc.weight' is used outside its module's forward").And.Contain("train.overlap_reduce: false"));
        // Without the overlap the same model trains.
        Assert.That(Train(2, Config(overlap: false), () => new DeepNet(tied: true), BucketPerModule)[0].Weights, Has.Length.GreaterThan(0));
    }
}
