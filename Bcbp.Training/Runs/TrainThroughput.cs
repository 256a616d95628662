using System.Diagnostics;
using Bcbp.Models;
using Bcbp.Training.Backend;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Runs;

/// <summary>What <c>bcbp bench-train</c> measures (<see cref="TrainThroughput"/>).</summary>
/// <param name="Arch">a <see cref="ModelFactory"/> name (torchvision's ResNet-50 is resnet50 at 224 with 1000 classes).</param>
/// <param name="Batch">images per step.</param>
/// <param name="Steps">timed steps per window.</param>
/// <param name="Warmup">untimed steps first.</param>
/// <param name="Repeats">timed windows (the median is reported).</param>
/// <param name="Classes">classifier outputs.</param>
/// <param name="InChannels">input channels.</param>
/// <param name="ImageSize">input height and width.</param>
/// <param name="Amp">train.amp of the measured trainer.</param>
/// <param name="ChannelsLast">train.channels_last of the measured trainer.</param>
public sealed record TrainThroughputSettings(string Arch, int Batch, int Steps, int Warmup, int Repeats, int Classes, int InChannels,
    int ImageSize, AmpMode Amp = AmpMode.Off, bool ChannelsLast = false);

/// <summary>One <see cref="TrainThroughput"/> measurement: the median and every window's images/s, the peak GPU
/// memory of the timed windows, and the whole report as it is written to JSON.</summary>
public sealed record TrainThroughputResult(TrainThroughputSettings Settings, double ImagesPerSecond, IReadOnlyList<double> Windows,
    GpuMemoryPeak Memory, Dictionary<string, object?> Report)
{
    /// <summary>The variant's name: "off", "bf16 + channels_last", ...</summary>
    public string Variant => ConfigNames.Of(Settings.Amp) + (Settings.ChannelsLast ? " + channels_last" : "");

    /// <summary>The console line of <c>bcbp bench-train</c>.</summary>
    public string Describe(string device) =>
        $"bench-train {Settings.Arch} batch {Settings.Batch} amp {Variant} on {device}: {ImagesPerSecond:F0} images/s " +
        $"({1000.0 * Settings.Batch / ImagesPerSecond:F2} ms/step; windows {string.Join(", ", Windows.Select(w => w.ToString("F0")))}); " +
        Memory.Describe();
}

/// <summary>
/// Training throughput (images/s) of the trainer's own step (forward, cross-entropy, backward, SGD with momentum and
/// weight decay; <c>train.amp</c> and <c>train.channels_last</c> as the settings say) on random data already on the
/// device: warm-up steps excluded, the device synchronized before the clock starts and stops, the median of
/// <c>repeats</c> windows (<c>bcbp bench-train</c>). Beside it the peak GPU memory of the timed windows
/// (<see cref="GpuMemorySampler"/>, idle read before the model is built). experiments/pytorch_reference/train_throughput.py
/// measures PyTorch by the same rules and writes the same keys.
/// </summary>
public static class TrainThroughput
{
    /// <summary>Measures <paramref name="s"/> on <paramref name="device"/>; the report holds the median images/s under
    /// "images_per_second", every window under "images_per_second_all" and the memory as <see cref="GpuMemoryPeak.AddTo"/>
    /// writes it.</summary>
    public static TrainThroughputResult Measure(TrainThroughputSettings s, Device device)
    {
        // Idle before anything of this run is on the GPU: the figure then holds model, optimizer state, activations,
        // workspaces and the CUDA context, as PyTorch's side reads it.
        using var memory = GpuMemorySampler.ForDevice(device);
        random.manual_seed(0);
        var model = ModelFactory.Create(s.Arch, s.Classes, s.InChannels);
        model.to(device);
        var config = new TrainConfig
        {
            Optimizer = "sgd", Lr = 0.1, Momentum = 0.9, WeightDecay = 5e-4, LrSchedule = "constant",
            Amp = s.Amp, ChannelsLast = s.ChannelsLast,
        };
        var trainer = new Trainer(model, config, TrainingPhase.Dense, epochs: 1, stepsPerEpoch: 1, device);
        model.train();
        using var input = randn(s.Batch, s.InChannels, s.ImageSize, s.ImageSize, device: device);
        using var target = randint(s.Classes, new long[] { s.Batch }, dtype: ScalarType.Int64, device: device);

        RunSteps(trainer, input, target, s.Warmup, device);
        var windows = new List<double>();
        memory.Start();
        for (int r = 0; r < s.Repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            RunSteps(trainer, input, target, s.Steps, device);
            windows.Add((double)s.Steps * s.Batch / clock.Elapsed.TotalSeconds);
        }
        var peak = memory.Stop();
        double median = ForwardTimer.Median(windows);
        var report = new Dictionary<string, object?>
        {
            ["framework"] = "bcbp (TorchSharp 0.107.0)", ["arch"] = s.Arch, ["batch"] = s.Batch, ["image_size"] = s.ImageSize,
            ["in_channels"] = s.InChannels, ["device"] = device.ToString(), ["amp"] = ConfigNames.Of(s.Amp),
            ["channels_last"] = s.ChannelsLast, ["cudnn_benchmark"] = TorchBackend.CudnnBenchmark,
            ["cpu_threads"] = get_num_threads(), ["libtorch"] = TorchBackend.LibTorchDir ?? "bundled",
            ["warmup_steps"] = s.Warmup, ["steps"] = s.Steps, ["repeats"] = s.Repeats, ["images_per_second"] = median,
            ["images_per_second_all"] = windows, ["ms_per_step"] = 1000.0 * s.Batch / median,
        };
        peak.AddTo(report);
        report["commit"] = Provenance.Commit();
        report["machine"] = Provenance.Machine(device.ToString());
        report["finished_utc"] = DateTime.UtcNow;
        return new TrainThroughputResult(s, median, windows, peak, report);
    }

    static void RunSteps(Trainer trainer, Tensor input, Tensor target, int steps, Device device)
    {
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            trainer.Step(input, target);
        }
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
    }
}
