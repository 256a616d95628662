using Bcbp.Training.Config;
using Bcbp.Training.Fitting;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Fitting;

/// <summary>A NaN/inf loss stops training with the epoch, step and learning rate, and the last good checkpoint stays
/// byte for byte; the flag is read from the device every <see cref="Trainer.FiniteCheckEvery"/> steps.</summary>
public class DivergenceTests
{
    string _dir = "";

    [SetUp]
    public void Init()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        _dir = Directory.CreateTempSubdirectory("bcbp-diverge-").FullName;
    }

    [TearDown] public void Clean() => Directory.Delete(_dir, recursive: true);

    /// <summary>Poisons the classifier's weights before the step with index <paramref name="atStep"/>.</summary>
    sealed class PoisonHook(long atStep) : ITrainingHook
    {
        public void OnBatchBegin(TrainContext ctx)
        {
            if (ctx.GlobalStep != atStep) return;
            using var noGrad = no_grad();
            foreach (var p in ctx.Model.parameters()) p.fill_(float.NaN);
        }
    }

    [Test]
    public void ANanLossInTheSecondEpochStopsWithItsStepAndKeepsTheFirstEpochsCheckpoint()
    {
        random.manual_seed(0);
        var model = new TinyNet();
        var data = new InMemorySource(64, seed: 1);
        var path = Path.Combine(_dir, "checkpoint.bin");
        var trainer = new Trainer(model, new TrainConfig { Lr = 0.1, LrSchedule = "constant" }, TrainingPhase.Dense, epochs: 3,
            stepsPerEpoch: 4, CPU, new[] { new PoisonHook(atStep: 5) });
        byte[]? afterFirstEpoch = null;
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(data, data, new FitOptions
        {
            BatchSize = 16, CheckpointPath = path, OnEpoch = (_, _) => afterFirstEpoch ??= File.ReadAllBytes(path),
        }))!;
        Assert.That((e.Phase, e.Epoch, e.Step), Is.EqualTo(("dense", 2, 2L)), "global step 5 is the 2nd step of epoch 2");
        Assert.That(e.Message, Does.StartWith("dense: loss diverged at epoch 2 step 2 (lr 0.1;").And.EndWith("lower train.lr"));
        Assert.That(e.Message, Does.Contain("the last good checkpoint is kept"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(afterFirstEpoch), "the epoch-1 checkpoint is untouched");
        Assert.That(Checkpoint.ReadState(path).History.Count, Is.EqualTo(1));
    }

    [Test]
    public void AHugeLearningRateDivergesInTheFirstEpochWithoutACheckpoint()
    {
        random.manual_seed(0);
        var model = new TinyNet();
        var data = new InMemorySource(256, seed: 1);
        var path = Path.Combine(_dir, "checkpoint.bin");
        var trainer = new Trainer(model, new TrainConfig { Lr = 1e6, LrSchedule = "constant" }, TrainingPhase.Dense, epochs: 2, stepsPerEpoch: 32, CPU);
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(data, data, new FitOptions { BatchSize = 8, CheckpointPath = path }))!;
        Assert.That(e.Epoch, Is.EqualTo(1));
        Assert.That(e.Step, Is.InRange(1, 32));
        Assert.That(e.Message, Does.Contain("(lr 1E+06;").And.Contain("no epoch had finished"));
        Assert.That(File.Exists(path), Is.False);
    }
}
