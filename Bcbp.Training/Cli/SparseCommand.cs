using System.CommandLine;
using Bcbp.Kernels.Conversion;
using Bcbp.Training.Config;
using Bcbp.Training.Json;
using Bcbp.Training.Inference;
using Bcbp.Training.Runs;
using Bcbp.Training.Backend;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp sparse</c>: converts a pruned model into a sparse inference model (BcbpConv2d/BcbpLinear, BN folded) and
/// compares it with the masked dense model (<see cref="SparseEvaluation"/>). Two sources: <c>--run DIR</c>, a finished
/// pruned run evaluated on its whole test split (accuracy, loss), the report written to DIR/sparse_eval.json; or
/// <c>--arch A --weights FILE</c> on a seeded random batch. Exit code 1 when some sample's logits differ by more than
/// the dtype's rounding allows.
/// </summary>
public sealed class SparseCommand : ICliCommand
{
    readonly Option<string?> _run = CliOptions.Path("--run", PathKind.Run,
        "a finished pruned run folder, evaluated on its test split (writes DIR/sparse_eval.json): a path, or a name in runs/");
    readonly Option<List<string>> _sets = CliOptions.Sets("with --run: override a key of the run's config.json, e.g. data.root (repeatable)");
    readonly Option<string?> _arch = CliOptions.Choice("--arch", null, "with --weights: the architecture of the saved model", Bcbp.Models.ModelFactory.Names.ToArray());
    readonly Option<string?> _weights = CliOptions.Path("--weights", PathKind.Weights,
        "with --arch: a saved pruned model (.pt/.safetensors state dict with weight_mask entries), compared on a seeded random batch");
    readonly Option<int> _numClasses = CliOptions.Int("--num-classes", 10, "with --arch: classifier outputs");
    readonly Option<int> _inChannels = CliOptions.Int("--in-channels", 3, "with --arch: input channels");
    readonly Option<int> _inputSize = CliOptions.Int("--input-size", 32, "with --arch: input height and width");
    readonly Option<int?> _batch = CliOptions.OptionalInt("--batch", "images per batch (default: the run's data.eval_batch_size; 32 with --arch)");
    readonly Option<string?> _dtype = CliOptions.Choice("--dtype", null, "default: float16 on CUDA, float32 on the CPU", "float16", "bfloat16", "float32");
    readonly Option<int?> _tileRows = CliOptions.OptionalInt("--tile-rows", "rows per packed tile (default: the run's prune.tile_rows, rounded up " +
                                                                            "to a multiple of 32 for the fp16/bf16 CUDA kernels; 64 with --arch)");
    readonly Option<string?> _layout = CliOptions.Choice("--layout", "auto", "sparse format: auto (BCBP when every tile is balanced, else block)", "auto", "bcbp", "block");
    readonly Option<string?> _foldBn = CliOptions.Choice("--fold-bn", "yes", "fold BatchNorm into the converted convolutions", "yes", "no");
    readonly Option<int?> _iters = CliOptions.OptionalInt("--iters", "timed batches (default: 10 on CUDA, 2 on the CPU, whose reference is slow)");
    readonly Option<string?> _out = new("--out") { Description = "also write the report as JSON here (default with --run: DIR/sparse_eval.json)", HelpName = "FILE" };
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("sparse", "convert a pruned model (--run DIR, or --arch A --weights FILE) to BCBP sparse inference and " +
                                            "compare it with the masked dense model; exit 1 when their logits differ beyond the dtype's rounding")
        {
            _run, _sets, _arch, _weights, _numClasses, _inChannels, _inputSize, _batch, _dtype, _tileRows, _layout, _foldBn, _iters, _out,
        };
        _device.AddTo(command);
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        string? runDir = p.GetValue(_run), arch = p.GetValue(_arch), weights = p.GetValue(_weights);
        var sets = p.GetValue(_sets) ?? new();
        if (runDir is not null && (arch ?? weights) is not null)
            throw new ArgumentException("give --run DIR or --arch ARCH --weights FILE, not both");
        if (runDir is null && arch is null)
            throw new ArgumentException("give --run DIR (a finished pruned run) or --arch ARCH --weights FILE (a saved pruned model)");
        if (runDir is null && weights is null)
            throw new ArgumentException("--weights is required with --arch (the pruned model's .pt/.safetensors state dict with weight_mask entries)");
        if (runDir is null && sets.Count > 0)
            throw new ArgumentException("--set applies to --run (it overrides the run's config.json); with --arch use --num-classes, --in-channels, --input-size");
        var device = _device.Initialize(p, runDir is null ? null : SavedRun.Open(runDir, sets).Config.Device);
        bool cuda = device.type == DeviceType.CUDA;
        var dtype = (p.GetValue(_dtype) ?? (cuda ? "float16" : "float32")) switch
        {
            "float16" => ScalarType.Float16, "bfloat16" => ScalarType.BFloat16, _ => ScalarType.Float32,
        };
        int iters = p.GetValue(_iters) ?? (cuda ? 10 : 2);
        var layout = Enum.Parse<SparseLayout>(p.GetValue(_layout)!, ignoreCase: true);
        bool fold = p.GetValue(_foldBn) == "yes";
        int? tileRows = p.GetValue(_tileRows), batch = p.GetValue(_batch);
        string? outFile = p.GetValue(_out);

        SparseReport report;
        if (runDir is not null)
        {
            report = SparseEvaluation.EvaluateRun(runDir, sets, tileRows, layout, fold, device, dtype, batch, iters);
            outFile ??= Path.Combine(report.Run!, SparseReport.FileName);
        }
        else
            report = SparseEvaluation.EvaluateRandom(arch!, weights!, p.GetValue(_numClasses), p.GetValue(_inChannels), p.GetValue(_inputSize), batch ?? 32,
                new SparseSettings(tileRows ?? 64, layout, fold, device, dtype, iters));

        Console.WriteLine(report.Summary());
        if (outFile is not null)
        {
            OutputJson.Write(outFile, report);
            Console.WriteLine($"-> {outFile}");
        }
        return report.Passed ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }
}
