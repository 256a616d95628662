using System.Text;
using System.Text.Json;
using Bcbp.Tests.Runs;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;
using Bcbp.Training.Logging;
using Bcbp.Training.Runs;

namespace Bcbp.Tests.Logging;

/// <summary>TensorBoard event files: the TFRecord framing read back with its checksums, a run's scalars against its
/// metrics.json, and a resumed run that logs every step once.</summary>
public class TensorBoardTests
{
    string _dir = "";

    [SetUp]
    public void Init()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        _dir = Directory.CreateTempSubdirectory("bcbp-tb-").FullName;
    }

    [TearDown] public void Clean() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void Crc32CMatchesTheStandardCheckValue()
    {
        // The CRC-32C check value of "123456789" (RFC 3720, iSCSI).
        Assert.That(Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")), Is.EqualTo(0xE3069283u));
    }

    [Test]
    public void EventFileRoundTripsAndRefusesACorruptRecord()
    {
        string file = Path.Combine(_dir, "events.out.tfevents.1.test");
        using (var stream = File.Create(file))
        {
            EventFile.Write(stream, EventFile.Version(1.0));
            EventFile.Write(stream, EventFile.Scalar("loss/train", 0.5f, 3, 2.0));
            EventFile.Write(stream, EventFile.Scalar("loss/train", 0.25f, 6, 3.0));
        }
        Assert.That(EventFile.Read(file).First().FileVersion, Is.EqualTo("brain.Event:2"));
        Assert.That(EventFile.ReadScalars(_dir), Is.EqualTo(new[]
        {
            new ScalarPoint("loss/train", 3, 0.5f, 2.0), new ScalarPoint("loss/train", 6, 0.25f, 3.0),
        }));

        var bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..^3]); // a record cut short by a kill ends the file
        Assert.That(EventFile.ReadScalars(_dir).Select(s => s.Step), Is.EqualTo(new long[] { 3 }));
        bytes[^6] ^= 0x40; // a flipped bit in the last record's data
        File.WriteAllBytes(file, bytes);
        Assert.That(() => EventFile.ReadScalars(_dir), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("checksum"));
    }

    [Test]
    public void AnIndependentReaderFromTheSpecsReadsWhatWeWrite()
    {
        string tb = Path.Combine(_dir, "tb");
        var written = new List<(string Tag, long Step, float Value)>
        {
            ("loss/train", 1, 2.302585f), ("step/lr", 1, 1e-4f), ("sparsity/layer/layer1.0.conv1", 50, 0.75f),
            ("loss/train", 3_000_000_000L, -0.5f), ("top1/test", 7, 91.82f),
        };
        using (var log = TensorBoardLog.Open(tb, keepUpTo: 0))
            foreach (var (tag, step, value) in written) log.Scalar(tag, value, step);

        var python = Bcbp.Tests.TorchFiles.PythonTorch.RunFixtureScript("read_tfevents.py", tb)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t'))
            .Select(f => (f[0], long.Parse(f[1]), float.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture))).ToList();
        Assert.That(python, Is.EqualTo(written));
        Assert.That(EventFile.ReadScalars(tb).Select(s => (s.Tag, s.Step, s.Value)), Is.EqualTo(written));
    }

    static ExperimentConfig WithTb(ExperimentConfig c, int every)
    {
        c.Log = new LogConfig { TbEvery = every };
        return c;
    }

    static List<EpochMetrics> Metrics(string run) =>
        JsonSerializer.Deserialize<List<EpochMetrics>>(File.ReadAllText(Path.Combine(run, "metrics.json")),
            new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })!;

    [Test]
    public void PrunedRunWritesStepAndEpochScalarsOnOneStepAxis()
    {
        var prune = new PruneConfig
        {
            Method = "unstructured", Sparsity = 0.5, FinetuneEpochs = 2,
            Schedule = new ScheduleConfig { Kind = "linear", StartEpoch = 0, EndEpoch = 1, Frequency = 2 },
        };
        // 48 images in batches of 16: 3 steps per epoch; 2 dense epochs (steps 1-6), then 2 fine-tuning epochs (7-12).
        var result = TrainingRun.Execute(WithTb(TrainingRunTests.TinyConfig(_dir, "tb", epochs: 2, prune), every: 2), TrainingRunTests.Silent);
        var scalars = EventFile.ReadScalars(Path.Combine(result.RunDir, TensorBoardLog.Folder));
        IEnumerable<ScalarPoint> Tag(string tag) => scalars.Where(s => s.Tag == tag);

        Assert.That(Tag("step/loss").Select(s => s.Step), Is.EqualTo(new long[] { 2, 4, 6, 8, 10, 12 }));
        Assert.That(Tag("step/loss").Select(s => s.Value), Has.All.GreaterThan(0).And.All.LessThan(10));
        var metrics = Metrics(result.RunDir);
        var epochSteps = new long[] { 3, 6, 9, 12 };
        Assert.That(Tag("loss/test").Select(s => s.Step), Is.EqualTo(epochSteps));
        Assert.That(Tag("loss/test").Select(s => (double)s.Value), Is.EqualTo(metrics.Select(m => m.TestLoss)).Within(1e-5));
        Assert.That(Tag("loss/train").Select(s => (double)s.Value), Is.EqualTo(metrics.Select(m => m.TrainLoss)).Within(1e-5));
        Assert.That(Tag("top1/test").Select(s => (double)s.Value), Is.EqualTo(metrics.Select(m => m.TestTop1)).Within(1e-4));
        Assert.That(Tag("top5/test").Select(s => (double)s.Value), Is.EqualTo(metrics.Select(m => m.TestTop5)).Within(1e-4));
        Assert.That(Tag("throughput/train_images_per_sec").Select(s => (double)s.Value),
            Is.EqualTo(metrics.Select(m => m.ImagesPerSecond)).Within(1e-3).Percent);
        // The last step of each epoch: step/lr there is the epoch's lr (the lr of its last step).
        Assert.That(Tag("step/lr").Where(s => s.Step is 6 or 12).Select(s => (double)s.Value),
            Is.EqualTo(new[] { metrics[1].Lr, metrics[3].Lr }).Within(1e-6));

        // Sparsity in fine-tuning only, overall and per pruned layer, the last equal to what the run reports.
        Assert.That(Tag("sparsity/overall").Select(s => s.Step), Is.EqualTo(new long[] { 9, 12 }));
        Assert.That(Tag("sparsity/overall").Last().Value, Is.EqualTo(result.AchievedSparsity!.Value).Within(1e-6));
        var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(result.RunDir, "prune_report.json"))).RootElement;
        var layers = report.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("name").GetString()).ToList();
        Assert.That(layers, Is.Not.Empty);
        foreach (var layer in layers)
            Assert.That(Tag($"sparsity/layer/{layer}").Select(s => s.Step), Is.EqualTo(new long[] { 9, 12 }), layer);
    }

    sealed class KillAtStep(int step) : ITrainingHook
    {
        public void OnBatchBegin(TrainContext ctx) { if (ctx.GlobalStep == step) throw new OperationCanceledException("killed"); }
    }

    [Test]
    public void ResumedRunLogsEveryStepOnceWithTheUninterruptedValues()
    {
        var straight = TrainingRun.Execute(WithTb(TrainingRunTests.TinyConfig(_dir, "straight", epochs: 3), every: 2), TrainingRunTests.Silent);
        var config = WithTb(TrainingRunTests.TinyConfig(_dir, "killed", epochs: 3), every: 2);
        // Killed after step 8, inside the third epoch: the checkpoint is at step 6, the event file already has step 8.
        Assert.That(() => TrainingRun.Execute(config, TrainingRunTests.Silent with { Hooks = new[] { new KillAtStep(8) } }),
            Throws.InstanceOf<OperationCanceledException>());
        string tb = Path.Combine(_dir, "killed", TensorBoardLog.Folder);
        Assert.That(EventFile.ReadScalars(tb).Where(s => s.Tag == "step/loss").Select(s => s.Step), Is.EqualTo(new long[] { 2, 4, 6, 8 }));

        TrainingRun.Execute(config, TrainingRunTests.Silent with { Resume = true });

        var resumed = EventFile.ReadScalars(tb);
        var expected = EventFile.ReadScalars(Path.Combine(straight.RunDir, TensorBoardLog.Folder));
        Assert.That(resumed.GroupBy(s => (s.Tag, s.Step)).Where(g => g.Count() > 1).Select(g => g.Key), Is.Empty, "no step twice");
        Assert.That(resumed.Where(s => s.Tag == "step/loss").Select(s => s.Step), Is.EqualTo(new long[] { 2, 4, 6, 8 }));
        // Resuming is bit-identical on the CPU, so every deterministic scalar equals the uninterrupted run's.
        static IEnumerable<(string, long, float)> Deterministic(IEnumerable<ScalarPoint> s) =>
            s.Where(p => !p.Tag.StartsWith("throughput")).Select(p => (p.Tag, p.Step, p.Value)).OrderBy(p => p.Tag).ThenBy(p => p.Step);
        Assert.That(Deterministic(resumed), Is.EqualTo(Deterministic(expected)));
        Assert.That(Directory.GetFiles(tb).Where(f => !Path.GetFileName(f).Contains("tfevents")), Is.Empty, "no temporary file left");
    }

    [Test]
    public void TensorBoardCanBeTurnedOff()
    {
        var config = TrainingRunTests.TinyConfig(_dir, "off", epochs: 1);
        config.Log = new LogConfig { Tensorboard = false };
        var result = TrainingRun.Execute(config, TrainingRunTests.Silent);
        Assert.That(Directory.Exists(Path.Combine(result.RunDir, TensorBoardLog.Folder)), Is.False);
    }
}
