using System.CommandLine;
using System.Text.Json;
using Bcbp.Models.IO;
using Bcbp.Training.Config;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp bench-train --arch resnet56 --batch 128 --device cuda [--amp bf16] [--channels-last]</c>: training
/// throughput (images/s) and peak GPU memory of the trainer's own step on random data already on the device
/// (<see cref="TrainThroughput"/>). Prints and writes JSON; experiments/pytorch_reference/train_throughput.py
/// measures PyTorch eager the same way.
/// </summary>
public sealed class BenchTrainCommand : ICliCommand
{
    readonly Option<string?> _arch = CliOptions.Choice("--arch", "resnet56", "architecture (torchvision's ResNet-50: --arch resnet50 " +
                                                                              "--image-size 224 --classes 1000)", Bcbp.Models.ModelFactory.Names.ToArray());
    readonly Option<int> _batch = CliOptions.Int("--batch", 128, "images per step");
    readonly Option<int> _steps = CliOptions.Int("--steps", 100, "timed steps per repeat");
    readonly Option<int> _warmup = CliOptions.Int("--warmup", 20, "untimed steps first", min: 0);
    readonly Option<int> _repeats = CliOptions.Int("--repeats", 3, "timed windows (the median is reported)");
    readonly Option<int> _classes = CliOptions.Int("--classes", 10, "classifier outputs");
    readonly Option<int> _channels = CliOptions.Int("--in-channels", 3, "input channels");
    readonly Option<int> _size = CliOptions.Int("--image-size", 32, "input height and width");
    readonly Option<string?> _amp = CliOptions.Choice("--amp", "off", "mixed precision of the step (train.amp)", ConfigNames.All<AmpMode>().ToArray());
    readonly Option<bool> _channelsLast = CliOptions.Flag("--channels-last", "convolutions in NHWC layout (train.channels_last; off when not given)");
    readonly Option<string?> _output = new("--output")
    {
        Description = "JSON report (default: results/bench_train_ARCH_bBATCH_AMP[_cl]_DEVICE.json)", HelpName = "FILE",
    };
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("bench-train", "training throughput (img/s) and peak GPU memory of the trainer's step on random " +
                                                 "data; compare with experiments/pytorch_reference/train_throughput.py")
        {
            _arch, _batch, _steps, _warmup, _repeats, _classes, _channels, _size, _amp, _channelsLast, _output,
        };
        _device.AddTo(command);
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        var s = new TrainThroughputSettings(p.GetValue(_arch)!, p.GetValue(_batch), p.GetValue(_steps), p.GetValue(_warmup),
            p.GetValue(_repeats), p.GetValue(_classes), p.GetValue(_channels), p.GetValue(_size),
            ConfigNames.Parse<AmpMode>(p.GetValue(_amp), "--amp"), p.GetValue(_channelsLast));
        var device = _device.Initialize(p);
        var result = TrainThroughput.Measure(s, device);
        Console.WriteLine(result.Describe(device.ToString()));
        string output = p.GetValue(_output) ?? Path.Combine("results",
            $"bench_train_{s.Arch}_b{s.Batch}_{ConfigNames.Of(s.Amp)}{(s.ChannelsLast ? "_cl" : "")}_{device.type.ToString().ToLowerInvariant()}.json");
        AtomicFile.WriteAllText(output, JsonSerializer.Serialize(result.Report, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"wrote {output}");
        return ExitCodes.Ok;
    }
}
