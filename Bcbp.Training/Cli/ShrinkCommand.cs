using static TorchSharp.torch;
using Bcbp.Training.Backend;
using Bcbp.Training.Shrink;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp shrink --run runs/NAME</c>: exports a filter-pruned run as a genuinely smaller dense model
/// (<see cref="ShrinkExport"/>) and prints what was removed, parameters, MACs, test top-1 of the masked and the shrunk
/// model, and their throughput side by side. Exit code 1 when the two models' logits differ beyond the tolerance.
/// </summary>
public sealed class ShrinkCommand : ICliCommand
{
    public string Name => "shrink";
    public string Summary => "export a filter-pruned run as a smaller dense model; compare accuracy, size, MACs and speed";

    public int Run(CliArgs args)
    {
        if (args.Has("help"))
        {
            Console.WriteLine("usage: bcbp shrink --run runs/NAME [--out DIR] [--device cpu|cuda|auto] [--batch 64] [--iters 10] [--warmup 3]\n" +
                              "                   [--num-test N] [--threads N] [--libtorch DIR]\n" +
                              "writes model_shrunk.safetensors, model_shrunk.pt, model_shrunk.json (widths) and shrink.json into --out (default: the run folder)");
            return 0;
        }
        string run = args.Get("run") ?? throw new ArgumentException("--run is required (a run folder written by bcbp train, e.g. runs/NAME)");
        var options = new ShrinkOptions(run, args.Get("out"), args.GetInt("batch", 64), args.GetInt("warmup", 3), args.GetInt("iters", 10),
                                        args.GetInt("num-test", 0));
        int threads = args.GetInt("threads", 0);
        var device = TorchBackend.Initialize(args.Get("device", "cpu"), args.Get("libtorch"));
        args.ThrowOnUnknown();
        if (threads > 0) set_num_threads(threads);

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
        Console.WriteLine($"| img/s (batch {r.Batch}, {r.Device}, threads {r.Threads}, median of {r.Iters}) | {r.MaskedImagesPerSec:F0} | {r.ShrunkImagesPerSec:F0} |");
        Console.WriteLine();
        Console.WriteLine($"max |logit diff| {r.MaxAbsLogitDiff:E2} (tolerance {r.Tolerance:E2}), same class on {100 * r.Top1Agreement:F2}% of images, reload diff {r.ReloadMaxAbsDiff:E2}; " +
                          $"speedup {r.Speedup:F2}x; wrote {string.Join(", ", r.Files.Select(Path.GetFileName))} and {ShrinkReport.FileName} to {Path.GetDirectoryName(r.Files[0])}");
        if (!r.Agrees) Console.Error.WriteLine("error: the shrunk model's outputs differ from the masked model's beyond the tolerance");
        return r.Agrees ? 0 : 1;
    }
}
