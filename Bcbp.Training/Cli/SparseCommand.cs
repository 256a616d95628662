using System.CommandLine;
using Bcbp.Kernels.Conversion;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Json;
using Bcbp.Training.Inference;
using Bcbp.Training.Runs;
using Bcbp.Training.Backend;
using TorchSharp;
using static System.FormattableString;
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
            report = EvaluateRun(runDir, sets, tileRows, layout, fold, device, dtype, batch, iters);
            outFile ??= Path.Combine(report.Run!, SparseReport.FileName);
        }
        else
            report = Compare(arch!, weights!, p.GetValue(_numClasses), p.GetValue(_inChannels), p.GetValue(_inputSize), batch ?? 32,
                new SparseSettings(tileRows ?? 64, layout, fold, device, dtype, iters));

        Console.WriteLine(Summarize(report));
        if (outFile is not null)
        {
            OutputJson.Write(outFile, report);
            Console.WriteLine($"-> {outFile}");
        }
        return report.Passed ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }

    /// <summary>Evaluates run folder <paramref name="dir"/> on its test split (<paramref name="overrides"/> change its
    /// config, e.g. data.root). Tile rows default to <see cref="KernelTileRows"/>, the batch to data.eval_batch_size.</summary>
    public static SparseReport EvaluateRun(string dir, IEnumerable<string> overrides, int? tileRows, SparseLayout layout, bool fold,
        Device device, ScalarType dtype, int? batch, int iters)
    {
        var run = SavedRun.Open(dir, overrides);
        var c = run.Config;
        if (c.Prune is null)
            throw new InvalidDataException($"run '{dir}' is a dense run: its config.json has no prune section, so '{run.ModelFile}' carries no " +
                                           "weight_mask. Sparse inference needs a pruned run (a config with a prune section).");
        var settings = new SparseSettings(tileRows ?? KernelTileRows(c.Prune.TileRows, device, dtype), layout, fold, device, dtype, iters);
        var test = DatasetFactory.CreateTest(c.Data, device, c.Seed);
        try
        {
            var batches = test.Batches(batch ?? c.Data.EvalBatchSize, shuffle: false, augment: false, epoch: 0)
                .Select(b => (b.Input, (Tensor?)b.Target));
            var report = SparseEvaluation.Evaluate(c.Model.Arch, c.Model.NumClasses, c.Model.InChannels, run.ModelFile, batches,
                c.Data.Dataset, settings);
            return report with { Run = run.Dir, RecordedTop1 = run.Result?.Top1 };
        }
        finally { (test as IDisposable)?.Dispose(); }
    }

    /// <summary>Compares a saved pruned model on one seeded random batch [batch, inChannels, size, size].</summary>
    public static SparseReport Compare(string arch, string weights, int numClasses, int inChannels, int size, int batch, SparseSettings settings)
    {
        using var x = randn(new long[] { batch, inChannels, size, size }, generator: new Generator(17));
        return SparseEvaluation.Evaluate(arch, numClasses, inChannels, weights, new[] { (x, (Tensor?)null) }, "random", settings);
    }

    /// <summary>
    /// Tile rows to pack a run's masks with: its prune.tile_rows, except for our half-precision CUDA kernels, which need
    /// a multiple of 32 (<c>KernelConfig</c>): then the least common multiple of both, so each packed tile covers whole
    /// pruning tiles (BCBP masks of 16-row tiles are then unbalanced at 32 rows and run on the block kernel).
    /// </summary>
    public static int KernelTileRows(int pruneTileRows, Device device, ScalarType dtype)
    {
        bool kernels = device.type == DeviceType.CUDA && dtype != ScalarType.Float32;
        if (!kernels || pruneTileRows % 32 == 0) return pruneTileRows;
        int gcd = pruneTileRows, b = 32;
        while (b != 0) (gcd, b) = (b, gcd % b);
        return pruneTileRows / gcd * 32;
    }

    /// <summary>The lines the command prints.</summary>
    public static string Summarize(SparseReport r)
    {
        var lines = new List<string>
        {
            Invariant($"sparse: {r.Arch} from {r.Run ?? r.Weights}: {r.Converted.Count} layers converted ({r.Layout}, tile_rows {r.TileRows}") +
            (r.FoldBatchNorm ? ", BN folded" : "") + Invariant($") on {r.Device} {r.Dtype}"),
        };
        if (r.LeftDense.Count > 0)
            lines.Add($"  left dense (masked, still exact): {string.Join("; ", r.LeftDense)}");
        if (r.DenseTop1 is { } dt && r.SparseTop1 is { } st)
            lines.Add(Invariant($"  {r.Inputs} test split, {r.Samples} images: top-1 dense {dt:F2}%, sparse {st:F2}% ") +
                      Invariant($"(loss {r.DenseLoss:F4} / {r.SparseLoss:F4})") +
                      (r.RecordedTop1 is { } rt ? Invariant($"; the run recorded {rt:F2}%") : ""));
        lines.Add(Invariant($"  predictions agree on {r.Agreement:P2} ({r.Disagreements} of {r.Samples} differ); logits rel err ") +
                  Invariant($"{r.LogitsRelErr:E2} overall, {r.MaxLogitsRelErr:E2} worst sample"));
        lines.Add(Invariant($"  against the float32 reference (TF32 off), worst image: sparse {r.MaxSparseRelErrVsReference:E2}, dense {r.MaxDenseRelErrVsReference:E2}; ") +
                  Invariant($"{r.FailingSamples} of {r.Samples} images over max(2 x dense error, floor) (tightest bound {r.Tolerance:E1}): ") + (r.Passed ? "PASS" : "FAIL"));
        lines.Add(Invariant($"  time per batch of {r.InputShape[0]}: dense {r.DenseMs:F3} ms, sparse {r.SparseMs:F3} ms ({r.DenseMs / r.SparseMs:F2}x)"));
        return string.Join(Environment.NewLine, lines);
    }
}
