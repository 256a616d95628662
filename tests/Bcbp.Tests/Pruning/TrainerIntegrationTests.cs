using Bcbp.Models;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Tests.Fitting;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Fitting;
using Bcbp.Training.Pruning;

namespace Bcbp.Tests.Pruning;

/// <summary>The hook inside the real Trainer: gradual bcbp on a CIFAR ResNet-20, checkpoints carrying the masks.</summary>
public class TrainerIntegrationTests
{
    [OneTimeSetUp] public void Init() => PruningTestData.Init();

    [Test]
    public void FineTuningUnderTheHookReachesTheTargetAndCheckpointsCarryTheMasks()
    {
        random.manual_seed(0);
        var model = ModelFactory.Create("resnet20", 4, 1);
        var data = new InMemorySource(64, seed: 2);
        var prune = new PruneConfig
        {
            Method = "bcbp", Sparsity = 0.75, TileRows = 16, FinetuneEpochs = 3,
            Schedule = new ScheduleConfig { Kind = "cubic", StartEpoch = 0, EndEpoch = 2, Frequency = 2 },
        };
        const int stepsPerEpoch = 4; // 64 samples / batch 16
        var hook = PruningHook.Create(prune, model, stepsPerEpoch, Serilog.Core.Logger.None);
        var trainer = new Trainer(model, new TrainConfig { Lr = 0.05, LrSchedule = "constant", WeightDecay = 5e-4 }, TrainingPhase.Finetune,
                                  prune.FinetuneEpochs, stepsPerEpoch, CPU, new[] { hook });
        var dir = Path.Combine(Path.GetTempPath(), "bcbp-prune-fit-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var checkpoint = Path.Combine(dir, "checkpoint.pt");
        trainer.Fit(data, data, new FitOptions { BatchSize = 16, Augment = false, CheckpointPath = checkpoint });

        Assert.That(hook.AchievedSparsity, Is.EqualTo(0.75).Within(1.0 / 144));
        foreach (var l in hook.Layers)
            Assert.That(l.Weight.masked_select(l.Mask.eq(0)).count_nonzero().item<long>(), Is.Zero, l.Name);
        var report = hook.WriteReport(dir);
        Assert.That(report.Layers.All(l => Math.Abs(l.Wit - 1.0) < 1e-6));
        Assert.That(File.Exists(Path.Combine(dir, "prune_report.md")));

        // Resume order of the runner: create the hook (ones masks), then load the checkpoint into model + optimizer.
        var resumed = ModelFactory.Create("resnet20", 4, 1);
        var hook2 = PruningHook.Create(prune, resumed, stepsPerEpoch, Serilog.Core.Logger.None);
        var resumedTrainer = new Trainer(resumed, new TrainConfig { Lr = 0.05, LrSchedule = "constant", WeightDecay = 5e-4 },
                                         TrainingPhase.Finetune, prune.FinetuneEpochs, stepsPerEpoch, CPU, new[] { hook2 });
        Checkpoint.Load(checkpoint, resumed, resumedTrainer.Optimizer);
        Assert.That(hook2.AchievedSparsity, Is.EqualTo(hook.AchievedSparsity));
        Directory.Delete(dir, true);
    }
}
