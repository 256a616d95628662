using System.CommandLine;
using Bcbp.Models.IO;
using System.Diagnostics;
using System.Text.Json;
using Bcbp.Models;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Backend;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp bench-train --arch resnet56 --batch 128 --device cuda</c>: training throughput (images/s) of the trainer's
/// own step (forward, cross-entropy, backward, SGD with momentum and weight decay) on random data already on the device.
/// Warmup steps are excluded and the device is synchronized before the clock starts and stops. Prints and writes JSON;
/// experiments/pytorch_reference/train_throughput.py measures PyTorch eager the same way.
/// </summary>
public sealed class BenchTrainCommand : ICliCommand
{
    readonly Option<string?> _arch = CliOptions.Choice("--arch", "resnet56", "architecture", Bcbp.Models.ModelFactory.Names.ToArray());
    readonly Option<int> _batch = CliOptions.Int("--batch", 128, "images per step");
    readonly Option<int> _steps = CliOptions.Int("--steps", 100, "timed steps per repeat");
    readonly Option<int> _warmup = CliOptions.Int("--warmup", 20, "untimed steps first", min: 0);
    readonly Option<int> _repeats = CliOptions.Int("--repeats", 3, "timed windows (the median is reported)");
    readonly Option<int> _classes = CliOptions.Int("--classes", 10, "classifier outputs");
    readonly Option<int> _channels = CliOptions.Int("--in-channels", 3, "input channels");
    readonly Option<int> _size = CliOptions.Int("--image-size", 32, "input height and width");
    readonly Option<string?> _output = new("--output")
    {
        Description = "JSON report (default: results/bench_train_ARCH_bBATCH_DEVICE.json)", HelpName = "FILE",
    };
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("bench-train", "training throughput (img/s) of the trainer's step on random data; " +
                                                 "compare with experiments/pytorch_reference/train_throughput.py")
        {
            _arch, _batch, _steps, _warmup, _repeats, _classes, _channels, _size, _output,
        };
        _device.AddTo(command);
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        string arch = p.GetValue(_arch)!;
        int batch = p.GetValue(_batch), steps = p.GetValue(_steps), warmup = p.GetValue(_warmup), repeats = p.GetValue(_repeats);
        int classes = p.GetValue(_classes), channels = p.GetValue(_channels), size = p.GetValue(_size);
        string? output = p.GetValue(_output);
        var device = _device.Initialize(p);
        var report = TrainThroughput.Measure(arch, batch, steps, warmup, repeats, classes, channels, size, device);
        double median = (double)report["images_per_second"]!;
        var windows = (List<double>)report["images_per_second_all"]!;
        Console.WriteLine($"bench-train {arch} batch {batch} on {device}: {median:F0} images/s ({1000.0 * batch / median:F2} ms/step; " +
                          $"windows {string.Join(", ", windows.Select(w => w.ToString("F0")))})");
        output ??= Path.Combine("results", $"bench_train_{arch}_b{batch}_{device.type.ToString().ToLowerInvariant()}.json");
        AtomicFile.WriteAllText(output, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"wrote {output}");
        return ExitCodes.Ok;
    }
}
