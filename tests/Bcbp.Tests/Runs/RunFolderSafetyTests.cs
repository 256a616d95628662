using System.Diagnostics;
using Bcbp.Tests.Data;
using Bcbp.Training.Config;
using Bcbp.Training.Runs;

namespace Bcbp.Tests.Runs;

/// <summary>
/// A run folder is never changed by a run that cannot start (bad weights, patterns, tiles, data), never replaced by a
/// run of another config without Force, locked while a run writes it, and cleaned of temp files killed writers left.
/// </summary>
public class RunFolderSafetyTests
{
    string _dir = "";

    [SetUp]
    public void Init()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        _dir = Directory.CreateTempSubdirectory("bcbp-safety-").FullName;
    }

    [TearDown] public void Clean() => Directory.Delete(_dir, recursive: true);

    ExperimentConfig Tiny(string name = "r", int epochs = 1) => TrainingRunTests.TinyConfig(_dir, name, epochs);
    static readonly RunOptions Silent = TrainingRunTests.Silent;

    Dictionary<string, byte[]> Snapshot(string name) => Directory.GetFiles(Path.Combine(_dir, name))
        .ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);

    [Test]
    public void RunsThatCannotStartLeaveTheExistingRunUntouched()
    {
        TrainingRun.Execute(Tiny(), Silent);
        var before = Snapshot("r");
        var bad = new (string What, ExperimentConfig Config)[]
        {
            ("missing weights", Tiny()),
            ("bad pattern", Tiny()),
            ("tile taller than the model", Tiny()),
        };
        bad[0].Config.Model.Pretrained = Path.Combine(_dir, "nothing.safetensors");
        bad[1].Config.Prune = new PruneConfig { Method = "unstructured", Sparsity = 0.5, FinetuneEpochs = 1, Exclude = new List<string> { "re:(" },
                                                Schedule = new ScheduleConfig { Kind = "one_shot" } };
        bad[2].Config.Prune = new PruneConfig { Method = "bcbp", Sparsity = 0.5, FinetuneEpochs = 1, TileRows = 1_000_000_000,
                                                Schedule = new ScheduleConfig { Kind = "one_shot" } };
        foreach (var (what, config) in bad)
        {
            var e = Assert.Catch(() => TrainingRun.Execute(config, Silent with { Force = true }), what)!;
            Assert.That(e, Is.InstanceOf<ArgumentException>().Or.InstanceOf<IOException>(), what);
            Assert.That(Snapshot("r"), Is.EqualTo(before), $"{what}: the folder is unchanged");
        }
        Assert.That(Assert.Catch(() => TrainingRun.Execute(bad[2].Config, Silent with { Force = true }))!.Message,
            Does.Contain("prune.tile_rows = 1000000000 is taller than every pruned layer"));
    }

    [Test]
    public void TrainAndTestImagesOfDifferentSizesAreRefusedBeforeTheFolderExists()
    {
        var root = Directory.CreateDirectory(Path.Combine(_dir, "data")).FullName;
        DataTestFiles.WriteMnistSplit(root, "train", 8, gzip: false, size: 28);
        DataTestFiles.WriteMnistSplit(root, "t10k", 4, gzip: false, size: 20);
        var config = Tiny("sizes");
        config.Data = new DataConfig { Dataset = "fashion_mnist", Root = root, BatchSize = 4, EvalBatchSize = 4, Augment = false };
        config.Model.NumClasses = 10;
        var e = Assert.Throws<InvalidDataException>(() => TrainingRun.Execute(config, Silent))!;
        Assert.That(e.Message, Does.Contain("1x28x28").And.Contain("1x20x20").And.Contain("data.image_size"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "sizes")), Is.False);
    }

    [Test]
    public void ARunOfAnotherConfigIsReplacedOnlyWithForce()
    {
        TrainingRun.Execute(Tiny(), Silent);
        var before = Snapshot("r");
        var other = Tiny();
        other.Train.Lr = 0.2;
        var e = Assert.Throws<RunFolderConflictException>(() => TrainingRun.Execute(other, Silent))!;
        Assert.That(e.Message, Does.Contain("train.lr: 0.05 -> 0.2").And.Contain("--resume").And.Contain("--set name=r_2").And.Contain("--force"));
        Assert.That(Snapshot("r"), Is.EqualTo(before));

        var replaced = TrainingRun.Execute(other, Silent with { Force = true });
        Assert.That(RunResult.Read(Path.Combine(replaced.RunDir, RunResult.FileName)).ConfigHash, Is.EqualTo(ConfigSerializer.Hash(other)));
        Assert.That(ConfigLoader.Load(Path.Combine(replaced.RunDir, "config.json")).Train.Lr, Is.EqualTo(0.2));
        // The same config again starts afresh without Force.
        Assert.DoesNotThrow(() => TrainingRun.Execute(other, Silent));
    }

    [Test]
    public void ASecondRunOnALockedFolderIsRefusedNamingHostAndProcess()
    {
        var runDir = Directory.CreateDirectory(Path.Combine(_dir, "r")).FullName;
        using (RunLock.Acquire(runDir))
        {
            var e = Assert.Throws<RunLockedException>(() => TrainingRun.Execute(Tiny(), Silent))!;
            Assert.That(e.Message, Does.Contain($"process {Environment.ProcessId} on host {Environment.MachineName}"));
            Assert.That(Directory.GetFiles(runDir).Select(Path.GetFileName), Is.EqualTo(new[] { RunLock.FileName }));
        }
        Assert.That(File.Exists(Path.Combine(runDir, RunLock.FileName)), Is.False, "released");
    }

    [Test]
    public void AKilledRunsLockAndTempFilesAreTakenOverAndCleaned()
    {
        var runDir = Directory.CreateDirectory(Path.Combine(_dir, "r")).FullName;
        using var gone = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        gone.WaitForExit();
        File.WriteAllText(Path.Combine(runDir, RunLock.FileName),
            $"{{\"Host\":\"{Environment.MachineName}\",\"Pid\":{gone.Id},\"ProcessStartUtc\":\"2020-01-01T00:00:00Z\"}}");
        var orphan = Path.Combine(runDir, $".checkpoint.{gone.Id}.{Guid.NewGuid():N}.tmp.bin");
        File.WriteAllText(orphan, "half a checkpoint");
        TrainingRun.Execute(Tiny(), Silent);
        Assert.That(File.Exists(orphan), Is.False, "the orphaned temp file is removed");
        Assert.That(File.Exists(Path.Combine(runDir, RunLock.FileName)), Is.False);
        Assert.That(File.Exists(Path.Combine(runDir, RunResult.FileName)));
    }
}
