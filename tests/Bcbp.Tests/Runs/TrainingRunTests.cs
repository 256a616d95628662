using System.Text.Json;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Fitting;
using Bcbp.Training.Runs;

namespace Bcbp.Tests.Runs;

/// <summary>End-to-end runs on a tiny synthetic dataset: every file of the run folder, pruning, and resume.</summary>
public class TrainingRunTests
{
    string _dir = "";

    [SetUp]
    public void Init()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        _dir = Directory.CreateTempSubdirectory("bcbp-run-").FullName;
    }

    [TearDown] public void Clean() => Directory.Delete(_dir, recursive: true);

    ExperimentConfig Tiny(string name, int epochs = 2, PruneConfig? prune = null) => TinyConfig(_dir, name, epochs, prune);

    /// <summary>A ResNet-20 run on 48 synthetic 8x8 images that takes about a second on the CPU (also used by other tests).</summary>
    internal static ExperimentConfig TinyConfig(string outputDir, string name, int epochs = 2, PruneConfig? prune = null) => new()
    {
        Name = name, Seed = 3, Device = "cpu", OutputDir = outputDir,
        Model = new ModelConfig { Arch = "resnet20", NumClasses = 4, InChannels = 1 },
        Data = new DataConfig
        {
            Dataset = "synthetic", NumClasses = 4, Channels = 1, ImageSize = 8, NumTrain = 48, NumTest = 16,
            BatchSize = 16, EvalBatchSize = 16, Augment = false,
        },
        Train = new TrainConfig { Epochs = epochs, Lr = 0.05, WarmupEpochs = 1 },
        Prune = prune,
    };

    // One thread: the test machine's cores are shared, and two OpenMP threads then wait for each other.
    internal static readonly RunOptions Silent = new() { ShowProgress = false, Quiet = true, CpuThreads = 1 };

    [Test]
    public void DenseRunWritesTheWholeRunFolder()
    {
        var result = TrainingRun.Execute(Tiny("dense"), Silent);
        string run = Path.Combine(_dir, "dense");
        Assert.That(result.RunDir, Is.EqualTo(run));
        foreach (var f in new[] { "config.json", "run.log", "run.jsonl", "metrics.json", "metrics.csv", "learning_curves.png",
                                  "checkpoint.bin", "model.safetensors", "model.pt", "results.json" })
            Assert.That(File.Exists(Path.Combine(run, f)), $"{f} is missing");
        Assert.That(Directory.GetFiles(run, "*.tmp*"), Is.Empty, "no temporary file is left behind");

        var saved = RunResult.Read(Path.Combine(run, "results.json"));
        Assert.That(saved.Top1, Is.EqualTo(result.Top1));
        Assert.That(saved.Top1, Is.InRange(0, 100));
        Assert.That(saved.Top5, Is.GreaterThanOrEqualTo(saved.Top1));
        Assert.That(saved.DenseTop1, Is.Null);
        Assert.That(saved.ConfigHash, Is.EqualTo(ConfigSerializer.Hash(Tiny("dense"))));

        var metrics = JsonSerializer.Deserialize<List<EpochMetrics>>(File.ReadAllText(Path.Combine(run, "metrics.json")),
            new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })!;
        Assert.That(metrics.Select(m => (ConfigNames.Of(m.Phase), m.Epoch)), Is.EqualTo(new[] { ("dense", 1), ("dense", 2) }));
        Assert.That(metrics[^1].TestTop1, Is.EqualTo(result.Top1));
        var csv = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.That(csv, Has.Length.EqualTo(3));
        Assert.That(csv[0], Does.StartWith("phase,epoch,lr,train_loss"));
        var events = File.ReadAllLines(Path.Combine(run, "run.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var epochEvents = events.Where(e => e.GetProperty("Properties").TryGetProperty("Top1", out _) && e.GetProperty("Properties").TryGetProperty("Epoch", out _)).ToList();
        Assert.That(epochEvents.Select(e => e.GetProperty("Properties").GetProperty("Epoch").GetInt32()), Is.EqualTo(new[] { 1, 2 }));
        var png = File.ReadAllBytes(Path.Combine(run, "learning_curves.png"));
        Assert.That(png.Take(4), Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }));
        // The resolved config loads back to the same config.
        Assert.That(ConfigSerializer.Hash(ConfigLoader.Load(Path.Combine(run, "config.json"))), Is.EqualTo(saved.ConfigHash));
    }

    [Test]
    public void PrunedRunFineTunesWithMasksAndReportsDenseAccuracyAndSparsity()
    {
        var prune = new PruneConfig
        {
            Method = "unstructured", Sparsity = 0.5, FinetuneEpochs = 2,
            Schedule = new ScheduleConfig { Kind = "linear", StartEpoch = 0, EndEpoch = 1, Frequency = 2 },
        };
        var result = TrainingRun.Execute(Tiny("pruned", epochs: 1, prune), Silent);
        Assert.That(result.DenseTop1, Is.Not.Null);
        Assert.That(result.Method, Is.EqualTo("unstructured"));
        Assert.That(result.AchievedSparsity!.Value, Is.EqualTo(0.5).Within(0.01));
        string run = Path.Combine(_dir, "pruned");
        Assert.That(File.Exists(Path.Combine(run, "prune_report.json")));
        var model = Bcbp.Models.IO.StateDictIO.Read(Path.Combine(run, "model.safetensors"));
        var masks = model.Where(kv => kv.Key.EndsWith("weight_mask")).ToList();
        Assert.That(masks, Is.Not.Empty, "pruned layers carry weight_mask in the saved model");
        foreach (var (name, mask) in masks)
        {
            var weight = model[name[..^"_mask".Length]];
            Assert.That(weight.mul(mask.logical_not()).abs().sum().item<float>(), Is.EqualTo(0), $"{name}: pruned weights are zero");
        }
        var history = Checkpoint.ReadState(Path.Combine(run, TrainingRun.CheckpointFile)).History;
        Assert.That(history.Select(m => ConfigNames.Of(m.Phase)), Is.EqualTo(new[] { "dense", "finetune", "finetune" }));
        // The ramp is visible: per epoch and per mask update in metrics.json, per epoch in metrics.csv.
        Assert.That(history[0].Sparsity, Is.Null);
        Assert.That(history[1].MaskUpdates, Is.Not.Empty);
        Assert.That(history[1].MaskUpdates!.Select(u => u.Sparsity), Is.Ordered.And.All.InRange(0.0, 0.5 + 0.01));
        Assert.That(history[2].Sparsity!.Value, Is.EqualTo(result.AchievedSparsity!.Value).Within(1e-9));
        var csv = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.That(csv[0], Does.EndWith(",sparsity,mask_updates"));
        Assert.That(csv[3].Split(',')[^2], Is.EqualTo(history[2].Sparsity!.Value.ToString("G9", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(File.ReadAllText(Path.Combine(run, "metrics.json")), Does.Contain("\"mask_updates\""));
        Assert.That(File.Exists(Path.Combine(run, "learning_curves.svg")));
        // tile_rows was left unset: config.json holds the value chosen for the model.
        var saved = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(run, "config.json")))!;
        Assert.That(saved["prune"]!["tile_rows"]!.GetValue<int>(), Is.GreaterThan(0));
    }

    /// <summary>Kills the run at the first step of the given (phase-relative) epoch.</summary>
    sealed class KillAt(int epoch) : ITrainingHook
    {
        public void OnBatchBegin(TrainContext ctx) { if (ctx.Epoch == epoch) throw new OperationCanceledException("killed"); }
    }

    [Test]
    public void ResumeAfterAKillEndsLikeAnUninterruptedRun()
    {
        var straight = TrainingRun.Execute(Tiny("straight", epochs: 3), Silent);

        var config = Tiny("killed", epochs: 3);
        Assert.That(() => TrainingRun.Execute(config, Silent with { Hooks = new[] { new KillAt(2) } }),
            Throws.InstanceOf<OperationCanceledException>());
        Assert.That(File.Exists(Path.Combine(_dir, "killed", "results.json")), Is.False);
        var resumed = TrainingRun.Execute(config, Silent with { Resume = true });

        Assert.That(resumed.Top1, Is.EqualTo(straight.Top1));
        Assert.That(resumed.Loss, Is.EqualTo(straight.Loss), "same weights give the same test loss, to the last bit");
        var a = Bcbp.Models.IO.StateDictIO.Read(Path.Combine(_dir, "straight", "model.safetensors"));
        var b = Bcbp.Models.IO.StateDictIO.Read(Path.Combine(_dir, "killed", "model.safetensors"));
        foreach (var (name, t) in a)
            Assert.That(t.eq(b[name]).all().item<bool>(), $"{name} differs");
    }

    [Test]
    public void ResumeWithoutCheckpointNamesTheFix()
    {
        Assert.That(() => TrainingRun.Execute(Tiny("fresh"), Silent with { Resume = true }),
            Throws.InstanceOf<FileNotFoundException>().With.Message.Contains("without --resume"));
    }
}
