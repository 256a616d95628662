using System.Text.Json;
using Bcbp.Tests.Support;
using Bcbp.Training.Cli;
using Bcbp.Training.Config;
using Bcbp.Training.Runs;
using TorchSharp;

namespace Bcbp.Tests.Runs;

/// <summary><c>bcbp bench-train</c> on the CPU (the GPU figures come from the device runs, docs/gpu.md): the settings
/// reach the trainer and the report, and the memory keys say "not available" rather than a number.</summary>
public class TrainThroughputTests : TempDirectoryTest
{
    [Test]
    public void ReportCarriesTheVariantAndSaysMemoryIsNotAvailableOnTheCpu()
    {
        var s = new TrainThroughputSettings("resnet20", Batch: 2, Steps: 1, Warmup: 1, Repeats: 2, Classes: 3, InChannels: 1,
            ImageSize: 8, Amp: AmpMode.Bf16, ChannelsLast: true);
        var result = TrainThroughput.Measure(s, torch.CPU);
        Assert.That(result.Windows, Has.Count.EqualTo(2).And.All.GreaterThan(0));
        Assert.That(result.ImagesPerSecond, Is.EqualTo((result.Windows[0] + result.Windows[1]) / 2).Within(1e-9),
                    "median of two windows is their mean, as Python's statistics.median");
        Assert.That(result.Report["amp"], Is.EqualTo("bf16"));
        Assert.That(result.Report["channels_last"], Is.EqualTo(true));
        Assert.That(result.Report["peak_gpu_memory_mib"], Is.Null);
        Assert.That(result.Report["gpu_memory_source"], Is.EqualTo("not available: cpu device"));
        Assert.That(result.Describe("cpu"), Does.Contain("amp bf16 + channels_last").And.EndWith("peak GPU memory not available: cpu device"));
    }

    [Test]
    public void TheCommandWritesTheJsonThatTrainSummaryReads()
    {
        string output = Path.Combine(Dir, "ours.json");
        var code = BcbpCli.Run(new[]
        {
            "bench-train", "--arch", "resnet20", "--batch", "2", "--steps", "1", "--warmup", "0", "--repeats", "1", "--classes", "3",
            "--in-channels", "1", "--image-size", "8", "--amp", "off", "--device", "cpu", "--output", output,
        }, TextWriter.Null, TextWriter.Null);
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        using var json = JsonDocument.Parse(File.ReadAllText(output));
        var root = json.RootElement;
        // The keys experiments/bench/train_summary.py reads from both sides.
        foreach (var key in new[] { "framework", "arch", "image_size", "batch", "amp", "channels_last", "images_per_second", "peak_gpu_memory_mib", "gpu_memory_source" })
            Assert.That(root.TryGetProperty(key, out _), key);
        Assert.That(root.GetProperty("framework").GetString(), Does.StartWith("bcbp"));
        Assert.That((root.GetProperty("amp").GetString(), root.GetProperty("channels_last").GetBoolean()), Is.EqualTo(("off", false)));
    }

    [Test]
    public void AnUnknownAmpModeIsRefusedWithTheChoices()
    {
        var error = new StringWriter();
        Assert.That(BcbpCli.Run(new[] { "bench-train", "--amp", "fp8" }, TextWriter.Null, error), Is.EqualTo(ExitCodes.UsageError));
        Assert.That(error.ToString(), Does.Contain("--amp must be one of off, bf16, fp16; got 'fp8'"));
    }
}
