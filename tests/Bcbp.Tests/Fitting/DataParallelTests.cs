using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Distributed;
using Bcbp.Training.Fitting;
using Bcbp.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Fitting;

/// <summary>
/// Data-parallel training on the CPU with ranks as threads (<see cref="InProcessGroup"/>): 2 ranks with the global
/// batch split give the weights 1 rank gives, whatever rank 1's model started from; a run stopped with 2 ranks
/// continues with 1 at the same epoch and ends where an uninterrupted 1-rank run does.
/// </summary>
public class DataParallelTests : TempDirectoryTest
{
    [SetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    sealed class NormNet : nn.Module<Tensor, Tensor>
    {
        readonly nn.Module<Tensor, Tensor> conv, bn, fc;

        public NormNet() : base(nameof(NormNet))
        {
            conv = nn.Conv2d(1, 4, 3, padding: 1);
            bn = nn.BatchNorm2d(4);
            fc = nn.Linear(4 * 4 * 4, 4);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var h = nn.functional.avg_pool2d(nn.functional.relu(bn.forward(conv.forward(x))), 2).flatten(1);
            return fc.forward(h).MoveToOuterDisposeScope();
        }
    }

    static readonly DataConfig DataCfg = new() { BatchSize = 16, EvalBatchSize = 16, Augment = false };
    static readonly TrainConfig TrainCfg = new() { Lr = 0.05, Momentum = 0.9, WeightDecay = 5e-4, LrSchedule = "cosine" };

    sealed class Stop : Exception;

    /// <summary>Trains <paramref name="epochs"/> dense epochs with <paramref name="world"/> thread ranks; returns each
    /// rank's final flat weights. <paramref name="stopAfter"/>: every rank stops after that epoch's checkpoint.</summary>
    float[][] Train(int world, int epochs, bool resume = false, int? stopAfter = null, bool forceCollective = false,
        TrainConfig? config = null, string? tensorBoard = null)
    {
        using var whole = DataParallelNet.Data();
        using var group = new InProcessGroup(world);
        var weights = new float[world][];
        var errors = new Exception?[world];
        string checkpoint = Path.Combine(Dir, "checkpoint.bin");
        // Rank 1's model starts elsewhere: the broadcast of rank 0's weights must make that irrelevant.
        var models = Enumerable.Range(0, world).Select(r => { random.manual_seed(r == 0 ? 1 : 100 + r); return new DataParallelNet(); }).ToList();
        var threads = Enumerable.Range(0, world).Select(rank => new Thread(() =>
        {
            try
            {
                var collective = world > 1 || forceCollective ? group.For(rank) : null;
                var shard = new DataShard(rank, world);
                var train = whole.Shard(shard, ShardRemainder.Pad);
                var test = whole.Shard(shard, ShardRemainder.Exact);
                var cfg = config ?? TrainCfg;
                var plan = DataParallelPlan.Of(DataCfg, cfg, world);
                int steps = (train.Count + plan.BatchPerRank - 1) / plan.BatchPerRank;
                var trainer = new Trainer(models[rank], cfg, TrainingPhase.Dense, epochs, steps, CPU, log: Serilog.Core.Logger.None,
                    collective: collective, lrScale: plan.LrScale);
                // TensorBoard as TrainingRun opens it on rank 0: after the step the checkpoint's scalars were logged at.
                using var tb = tensorBoard is not null && rank == 0
                    ? Bcbp.Training.Logging.TensorBoardLog.Open(tensorBoard, resume ? ResumeLogStep(Checkpoint.ReadState(checkpoint), world, steps) : 0)
                    : null;
                trainer.Fit(train, test, new FitOptions
                {
                    BatchSize = plan.BatchPerRank, EvalBatchSize = 16, Augment = false, Seed = 3, CheckpointPath = checkpoint,
                    WritesFiles = rank == 0, Resume = resume, Scalars = tb, ScalarEvery = tb is null ? 0 : 1,
                    OnEpoch = (m, _) => { if (m.Epoch == stopAfter) throw new Stop(); },
                });
                weights[rank] = cat(models[rank].parameters().Select(p => p.detach().flatten()).ToArray()).data<float>().ToArray();
            }
            catch (Stop) { }
            catch (Exception e) { errors[rank] = e; group.Abort(); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (errors.FirstOrDefault(e => e is not null and not OperationCanceledException) is { } first) throw first;
        return weights;
    }

    static void AssertClose(float[] actual, float[] expected, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        double worst = actual.Zip(expected, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(worst, Is.LessThan(2e-5), $"{what}: largest weight difference {worst}");
    }

    [Test]
    public void TwoRanksWithTheGlobalBatchSplitGiveTheWeightsOfOneRank()
    {
        var one = Train(world: 1, epochs: 2);
        var two = Train(world: 2, epochs: 2);
        Assert.That(two[1], Is.EqualTo(two[0]), "every rank ends with exactly the same weights");
        AssertClose(two[0], one[0], "2 ranks vs 1 rank");
        // The run moved: the comparison is not of two untrained models.
        Assert.That(one[0].Zip(Train(world: 1, epochs: 1)[0], (a, b) => Math.Abs(a - b)).Max(), Is.GreaterThan(1e-3));
    }

    [Test]
    public void TheEvaluationAfterAnEpochIsOfRankZerosModelOnEveryRank()
    {
        // 2 thread ranks, each training on its own shard: the last step leaves each rank's BatchNorm statistics its own.
        using var whole = DataParallelNet.Data();
        using var group = new InProcessGroup(2);
        var models = Enumerable.Range(0, 2).Select(r => { random.manual_seed(1 + r); return new NormNet(); }).ToArray();
        var reported = new EpochMetrics?[2];
        var errors = new Exception?[2];
        var threads = Enumerable.Range(0, 2).Select(rank => new Thread(() =>
        {
            try
            {
                var shard = new DataShard(rank, 2);
                var plan = DataParallelPlan.Of(DataCfg, TrainCfg, 2);
                var train = whole.Shard(shard, ShardRemainder.Pad);
                var trainer = new Trainer(models[rank], TrainCfg, TrainingPhase.Dense, 1, (train.Count + plan.BatchPerRank - 1) / plan.BatchPerRank,
                    CPU, log: Serilog.Core.Logger.None, collective: group.For(rank), lrScale: plan.LrScale);
                trainer.Fit(train, whole.Shard(shard, ShardRemainder.Exact), new FitOptions
                {
                    BatchSize = plan.BatchPerRank, EvalBatchSize = 16, Augment = false, Seed = 3, WritesFiles = false,
                    OnEpoch = (m, _) => reported[rank] = m,
                });
            }
            catch (Exception e) { errors[rank] = e; group.Abort(); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(errors, Is.All.Null);

        float[] Buffers(NormNet m) => m.buffers().Where(b => b.is_floating_point()).SelectMany(b => b.data<float>().ToArray()).ToArray();
        Assert.That(Buffers(models[1]), Is.EqualTo(Buffers(models[0])), "rank 1 evaluated with rank 0's BatchNorm statistics");
        // The job's evaluation (each rank on its test shard, sums all-reduced) is rank 0's model on the whole test set.
        var alone = Evaluator.Evaluate(models[0], whole, 16);
        Assert.That(reported[0]!.TestLoss, Is.EqualTo(alone.Loss).Within(1e-5));
        Assert.That(reported[0]!.TestTop1, Is.EqualTo(alone.Top1).Within(1e-9));
        Assert.That(reported[1]!.TestLoss, Is.EqualTo(reported[0]!.TestLoss), "every rank reports the same metrics");
    }

    /// <summary>Two BatchNorms: 6 buffers (4 float statistics, 2 int64 counts).</summary>
    sealed class TwoNormNet : nn.Module<Tensor, Tensor>
    {
        readonly nn.Module<Tensor, Tensor> conv1, bn1, conv2, bn2, fc;

        public TwoNormNet() : base(nameof(TwoNormNet))
        {
            conv1 = nn.Conv2d(1, 4, 3, padding: 1);
            bn1 = nn.BatchNorm2d(4);
            conv2 = nn.Conv2d(4, 4, 3, padding: 1);
            bn2 = nn.BatchNorm2d(4);
            fc = nn.Linear(4 * 4 * 4, 4);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var h = nn.functional.relu(bn1.forward(conv1.forward(x)));
            h = nn.functional.avg_pool2d(nn.functional.relu(bn2.forward(conv2.forward(h))), 2).flatten(1);
            return fc.forward(h).MoveToOuterDisposeScope();
        }
    }

    /// <summary>A rank's collective that records the tensors of every broadcast of the trainer's packed buffers;
    /// with <paramref name="perBuffer"/> it broadcasts those buffers one tensor each instead (the code before the
    /// packing), the reference the packed broadcast must match.</summary>
    sealed class RecordingCollective(ICollective inner, Func<Trainer?> trainer, bool perBuffer) : ICollective
    {
        public readonly List<int> BufferBroadcasts = new();
        public int Rank => inner.Rank;
        public int WorldSize => inner.WorldSize;
        public void AllReduce(IReadOnlyList<Tensor> tensors, ReduceOp op) => inner.AllReduce(tensors, op);
        public void Barrier() => inner.Barrier();
        public void Dispose() => inner.Dispose();
        public void Broadcast(IReadOnlyList<Tensor> tensors, int root)
        {
            var packed = trainer()?.Buffers;
            if (packed is null || !ReferenceEquals(tensors, packed.Flats)) { inner.Broadcast(tensors, root); return; }
            var sent = perBuffer ? packed.Buffers : tensors;
            BufferBroadcasts.Add(sent.Count);
            inner.Broadcast(sent, root);
        }
    }

    /// <summary>2 thread ranks (different initial models, different shards) train <see cref="TwoNormNet"/> for 2 epochs;
    /// returns each rank's parameters and buffers (as doubles) and the sizes of its buffer broadcasts.</summary>
    (double[][] State, List<int>[] Broadcasts, int Steps) TrainTwoNorm(bool perBuffer)
    {
        using var whole = DataParallelNet.Data();
        using var group = new InProcessGroup(2);
        var models = Enumerable.Range(0, 2).Select(r => { random.manual_seed(1 + r); return new TwoNormNet(); }).ToArray();
        var state = new double[2][];
        var broadcasts = new List<int>[2];
        var errors = new Exception?[2];
        int steps = 0;
        var threads = Enumerable.Range(0, 2).Select(rank => new Thread(() =>
        {
            try
            {
                var shard = new DataShard(rank, 2);
                var plan = DataParallelPlan.Of(DataCfg, TrainCfg, 2);
                var train = whole.Shard(shard, ShardRemainder.Pad);
                steps = (train.Count + plan.BatchPerRank - 1) / plan.BatchPerRank;
                Trainer? trainer = null;
                var collective = new RecordingCollective(group.For(rank), () => trainer, perBuffer);
                broadcasts[rank] = collective.BufferBroadcasts;
                trainer = new Trainer(models[rank], TrainCfg, TrainingPhase.Dense, 2, steps, CPU, log: Serilog.Core.Logger.None,
                    collective: collective, lrScale: plan.LrScale);
                trainer.Fit(train, whole.Shard(shard, ShardRemainder.Exact), new FitOptions
                {
                    BatchSize = plan.BatchPerRank, EvalBatchSize = 16, Augment = false, Seed = 3, WritesFiles = false,
                });
                state[rank] = models[rank].parameters().Select(p => (Tensor)p).Concat(models[rank].buffers())
                    .SelectMany(t => t.detach().to_type(ScalarType.Float64).flatten().data<double>().ToArray()).ToArray();
            }
            catch (Exception e) { errors[rank] = e; group.Abort(); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (errors.FirstOrDefault(e => e is not null and not OperationCanceledException) is { } first) throw first;
        return (state, broadcasts, steps);
    }

    [Test]
    public void TheBufferBroadcastIsOneCollectivePerDtypeAndGivesThePerBufferResult()
    {
        var (packed, packedCalls, steps) = TrainTwoNorm(perBuffer: false);
        var (reference, referenceCalls, _) = TrainTwoNorm(perBuffer: true);
        // Before every step and at each of the 2 epochs' ends: one tensor per dtype (float32 statistics, int64
        // counts) instead of one per buffer (6).
        Assert.That(packedCalls[0], Has.Count.EqualTo(2 * steps + 2).And.All.EqualTo(2));
        Assert.That(referenceCalls[0], Has.Count.EqualTo(2 * steps + 2).And.All.EqualTo(6));
        Assert.That(packed[1], Is.EqualTo(packed[0]), "every rank ends with rank 0's weights and buffers");
        Assert.That(packed[0], Is.EqualTo(reference[0]), "bit for bit the per-buffer broadcast's weights and buffers");
        // The statistics moved (the buffers end the state: bn1's mean, var, count, then bn2's): not a comparison of
        // untouched buffers; bn2's batch count is the steps taken.
        Assert.That(packed[0][^18], Is.Not.EqualTo(0.0), "bn1's running mean moved");
        Assert.That(packed[0][^1], Is.EqualTo(2.0 * steps), "bn2's num_batches_tracked");
    }

    [Test]
    public void OneRankThroughTheCollectiveIsThePlainTrainer()
    {
        var plain = Train(world: 1, epochs: 2);
        var through = Train(world: 1, epochs: 2, forceCollective: true);
        Assert.That(through[0], Is.EqualTo(plain[0]), "bit for bit: averaging over one rank changes nothing");
    }

    [Test]
    public void AResumeWithAnotherWorldSizeContinuesAtTheSameEpoch()
    {
        var uninterrupted = Train(world: 1, epochs: 3);
        Train(world: 2, epochs: 3, stopAfter: 1);
        var state = Checkpoint.ReadState(Path.Combine(Dir, "checkpoint.bin"));
        Assert.That((state.Epoch, state.WorldSize, state.History.Count), Is.EqualTo((1, 2, 1)));
        var resumed = Train(world: 1, epochs: 3, resume: true);
        AssertClose(resumed[0], uninterrupted[0], "2 ranks for epoch 1, then 1 rank for epochs 2-3 vs 1 rank throughout");
        var final = Checkpoint.ReadState(Path.Combine(Dir, "checkpoint.bin"));
        Assert.That(final.History.Select(m => m.Epoch), Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(final.WorldSize, Is.EqualTo(1));
    }

    /// <summary>TrainingRun's rule for a dense checkpoint: the logged step where the resumed run goes on.</summary>
    static long ResumeLogStep(CheckpointState saved, int world, int steps)
    {
        var resumed = saved.ResumedWith(world, steps);
        return resumed.GlobalStep + resumed.LogStepShift;
    }

    [Test]
    public void AResumeWithAnotherNumberOfStepsPerEpochContinuesTheEventFileWithoutAGapOrOverlap()
    {
        // batch_per_gpu 8: 2 ranks take 3 steps per epoch (24 examples each), 1 rank 6 (48).
        var perGpu = new TrainConfig { Lr = 0.05, Momentum = 0.9, LrSchedule = "cosine", BatchPerGpu = 8 };
        string tb = Path.Combine(Dir, "tb");
        Train(world: 2, epochs: 3, stopAfter: 1, config: perGpu, tensorBoard: tb);
        var saved = Checkpoint.ReadState(Path.Combine(Dir, "checkpoint.bin"));
        Assert.That((saved.Epoch, saved.GlobalStep, saved.WorldSize), Is.EqualTo((1, 3L, 2)));
        // The schedule goes on at epoch 2's first step of 6 per epoch; the logged steps where the file stopped.
        Assert.That(saved.ResumedWith(1, 6) is { GlobalStep: 6, LogStepShift: -3 });
        Train(world: 1, epochs: 3, resume: true, config: perGpu, tensorBoard: tb);

        var scalars = Bcbp.Training.Logging.EventFile.ReadScalars(tb);
        Assert.That(scalars.Where(p => p.Tag == "step/loss").Select(p => p.Step), Is.EqualTo(Enumerable.Range(1, 3 + 2 * 6).Select(i => (long)i)),
            "one loss per optimizer step, each step once: 3 with 2 ranks, then 12 with 1");
        Assert.That(scalars.Where(p => p.Tag == "loss/train").Select(p => p.Step), Is.EqualTo(new long[] { 3, 9, 15 }));
        var final = Checkpoint.ReadState(Path.Combine(Dir, "checkpoint.bin"));
        Assert.That((final.GlobalStep, final.LogStepShift), Is.EqualTo((18L, -3L)), "the schedule's step; the shift kept for a later resume");
        Assert.That(ResumeLogStep(final, 1, 6), Is.EqualTo(15), "a later resume with 1 rank keeps all 15 logged steps");
    }

    [Test]
    public void TheGlobalBatchSplitsOrTheRunIsRefusedAndBatchPerGpuScalesTheRate()
    {
        Assert.That(DataParallelPlan.Of(DataCfg, TrainCfg, 1), Is.EqualTo(new DataParallelPlan(1, 16, 16, 1.0)));
        Assert.That(DataParallelPlan.Of(DataCfg, TrainCfg, 4), Is.EqualTo(new DataParallelPlan(4, 4, 16, 1.0)));
        var e = Assert.Throws<ArgumentException>(() => DataParallelPlan.Of(DataCfg, TrainCfg, 3))!;
        Assert.That(e.Message, Does.StartWith("data.batch_size is 16 but the job has 3 ranks").And.Contain("train.batch_per_gpu"));
        var perGpu = new TrainConfig { BatchPerGpu = 16 };
        Assert.That(DataParallelPlan.Of(DataCfg, perGpu, 8), Is.EqualTo(new DataParallelPlan(8, 16, 128, 8.0)), "linear scaling rule");
        Assert.That(DataParallelPlan.Of(DataCfg, new TrainConfig { BatchPerGpu = 16, LrScaling = "none" }, 8).LrScale, Is.EqualTo(1.0));
    }
}
