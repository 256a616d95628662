using System.CommandLine;
using Bcbp.Training.Backend;
using Bcbp.Training.Inference;

namespace Bcbp.Training.Cli;

/// <summary><c>bcbp bench</c>: parses the options and runs <see cref="KernelBenchmark"/>.</summary>
public sealed class BenchCommand : ICliCommand
{
    readonly Option<string> _out = CliOptions.Text("--out", "runs/bench", "folder for bench.json and bench.md (committed results live in experiments/results/bench: pass it explicitly)", "DIR");
    readonly Option<string?> _model = CliOptions.Choice("--model", "all", "which model's layers to time", "all", "resnet50", "vgg16");
    readonly Option<string> _batch = CliOptions.IntList("--batch", "1,32,256", "batch sizes of the per-layer cases");
    readonly Option<string> _sparsity = CliOptions.FractionList("--sparsity", "0.5,0.75,0.875", "sparsities of the per-layer cases");
    readonly Option<int> _tileRows = CliOptions.Int("--tile-rows", 64, "rows per BCBP tile (and block height)");
    readonly Option<int> _iters = CliOptions.Int("--iters", 20, "timed calls per case (mean after 3 warm-up calls)");
    readonly Option<string?> _layers = CliOptions.Choice("--layers", "yes", "time the per-layer cases", "yes", "no");
    readonly Option<string?> _e2e = CliOptions.Choice("--e2e", "yes", "time whole models end to end", "yes", "no");
    readonly Option<string> _e2eModel = CliOptions.Text("--e2e-model", "resnet50", "models of the end-to-end runs: resnet50, vgg16, resnet56 (comma-separated)", "LIST");
    readonly Option<string> _e2eBatch = CliOptions.IntList("--e2e-batch", "1,32,256", "batch sizes of the end-to-end runs");
    readonly Option<string> _e2eSparsity = CliOptions.FractionList("--e2e-sparsity", "0.75", "sparsities of every conv but the first in the end-to-end runs");
    readonly Option<bool> _profilePlan = new("--profile-plan") { Description = "also time each launch of the whole-model plan (where an end-to-end forward spends its time)" };
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("bench", "time our BCBP and block kernels against dense cuDNN and the ideal compacted GEMM per ResNet-50/VGG-16 " +
                                           "layer, then ResNet-50 end to end (needs CUDA; docs/kernels.md)")
        {
            _out, _model, _batch, _sparsity, _tileRows, _iters, _layers, _e2e, _e2eModel, _e2eBatch, _e2eSparsity, _profilePlan,
        };
        _device.AddTo(command);
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        var device = _device.Initialize(p);
        string outDir = p.GetValue(_out)!, only = p.GetValue(_model)!;
        var batches = CliOptions.Ints(p.GetValue(_batch)!);
        var sparsities = CliOptions.Fractions(p.GetValue(_sparsity)!);
        int tileRows = p.GetValue(_tileRows), iters = p.GetValue(_iters);
        var e2eBatches = CliOptions.Ints(p.GetValue(_e2eBatch)!);
        var e2eSparsities = CliOptions.Fractions(p.GetValue(_e2eSparsity)!);
        var e2eModels = p.GetValue(_e2eModel)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        bool layers = p.GetValue(_layers) == "yes", e2e = p.GetValue(_e2e) == "yes";

        var settings = new KernelBenchmarkSettings(only, batches, sparsities, tileRows, iters, layers, e2e, e2eModels, e2eBatches, e2eSparsities,
            p.GetValue(_profilePlan));
        var (rows, endToEnd) = KernelBenchmark.Run(settings, device, Console.WriteLine);
        KernelBenchmark.Write(outDir, settings, rows, endToEnd);
        Console.WriteLine($"bench: {rows.Count} cases written to {outDir}/bench.json and bench.md");
        return ExitCodes.Ok;
    }
}
