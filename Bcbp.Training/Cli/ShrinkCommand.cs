using System.CommandLine;
using Bcbp.Training.Config;
using Bcbp.Training.Shrink;
using Bcbp.Training.Runs;
using Bcbp.Training.Backend;
using static TorchSharp.torch;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp shrink --run runs/NAME</c>: exports a filter-pruned run as a genuinely smaller dense model
/// (<see cref="ShrinkExport"/>) and prints what was removed, parameters, MACs, test top-1 of the masked and the shrunk
/// model, and their throughput side by side. Exit code 1 when the two models' logits differ beyond the tolerance.
/// </summary>
public sealed class ShrinkCommand : ICliCommand
{
    readonly Option<string?> _run = CliOptions.Path("--run", PathKind.Run,
        "a finished filter-pruned run folder written by bcbp train: a path, or a name in runs/", required: true);
    readonly Option<string?> _out = new("--out")
    {
        Description = "folder for model_shrunk.safetensors/.pt/.json and shrink.json (default: the run folder)", HelpName = "DIR",
    };
    readonly Option<int> _batch = CliOptions.Int("--batch", 64, "images per batch for the throughput measurement");
    readonly Option<int> _iters = CliOptions.Int("--iters", 10, "timed batches (the median is reported)");
    readonly Option<int> _warmup = CliOptions.Int("--warmup", 3, "untimed batches first", min: 0);
    readonly Option<int> _numTest = CliOptions.Int("--num-test", 0, "test images for the accuracy check (0: the whole test split)", min: 0);
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("shrink", "export a filter-pruned run as a genuinely smaller dense model; compare accuracy, size, MACs and speed")
        {
            _run, _out, _batch, _iters, _warmup, _numTest,
        };
        _device.AddTo(command);
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        string run = p.GetValue(_run)!;
        var options = new ShrinkOptions(run, p.GetValue(_out), p.GetValue(_batch), p.GetValue(_warmup), p.GetValue(_iters), p.GetValue(_numTest));
        var device = _device.Initialize(p, SavedRun.Open(run).Config.Device);

        var r = ShrinkExport.Run(options, device);
        Console.WriteLine($"shrink {r.Arch} ({r.Method ?? "masks only"}{(r.Sparsity is { } s ? $" {s:0.###}" : "")}): {r.Removed.Count} layers narrowed, " +
                          $"{r.Removed.Sum(x => x.ChannelsBefore - x.ChannelsAfter)} filters removed; " +
                          $"{r.ZeroFiltersLeft.Values.Sum()} all-zero filters kept (block outputs feeding residual sums, or a BatchNorm output > 0)");
        foreach (var x in r.Removed) Console.WriteLine($"  {x.Producer,-24} {x.ChannelsBefore,5} -> {x.ChannelsAfter,-5}");
        Console.WriteLine();
        Console.WriteLine($"| | masked dense | shrunk |");
        Console.WriteLine($"|---|---:|---:|");
        Console.WriteLine($"| parameters | {r.ParamsBefore:N0} | {r.ParamsAfter:N0} |");
        Console.WriteLine($"| non-zero conv/linear params | {r.NonzeroParamsBefore:N0} | {r.NonzeroParamsAfter:N0} |");
        Console.WriteLine($"| MACs per image ({string.Join("x", r.InputShape)}) | {r.MacsBefore / 1e6:F2} M | {r.MacsAfter / 1e6:F2} M |");
        Console.WriteLine($"| test top-1 ({r.TestImages} images) | {r.Top1Masked:F2}% | {r.Top1Shrunk:F2}% |");
        Console.WriteLine($"| img/s (batch {r.Batch}, {r.Device}, threads {r.Threads}, median of {Math.Min(ForwardTimer.MaxWindows, r.Iters)} windows, {r.Iters} passes) | {r.MaskedImagesPerSec:F0} | {r.ShrunkImagesPerSec:F0} |");
        Console.WriteLine();
        Console.WriteLine($"max |logit diff| {r.MaxAbsLogitDiff:E2} (tolerance {r.Tolerance:E2}), same class on {100 * r.Top1Agreement:F2}% of images, reload diff {r.ReloadMaxAbsDiff:E2}; " +
                          $"speedup {r.Speedup:F2}x; wrote {string.Join(", ", r.Files.Select(Path.GetFileName))} and {ShrinkReport.FileName} to {Path.GetDirectoryName(r.Files[0])}");
        if (!r.Agrees) Console.Error.WriteLine("error: the shrunk model's outputs differ from the masked model's beyond the tolerance");
        return r.Agrees ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }
}
