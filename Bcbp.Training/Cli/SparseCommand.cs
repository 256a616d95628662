using Bcbp.Kernels.Conversion;
using TorchSharp;
using static System.FormattableString;
using static TorchSharp.torch;
using Bcbp.Training.Backend;
using Bcbp.Training.Data;
using Bcbp.Training.Inference;
using Bcbp.Training.Json;
using Bcbp.Training.Runs;

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
    public string Name => "sparse";
    public string Summary => "convert a pruned model (--run DIR, or --arch A --weights FILE) to BCBP sparse inference and compare it with the masked dense model";


    public int Run(CliArgs args)
    {
        if (args.Has("help"))
        {
            Console.WriteLine(
                "usage: bcbp sparse --run DIR [--set key=value]... [--batch N] [common options]\n" +
                "       bcbp sparse --arch ARCH --weights FILE [--num-classes 10] [--in-channels 3] [--input-size 32] [--batch 32] [common options]\n" +
                "common: [--device auto|cpu|cuda] [--libtorch DIR] [--dtype float16|bfloat16|float32] [--tile-rows N]\n" +
                "        [--layout auto|bcbp|block] [--fold-bn yes|no] [--iters N (10 on CUDA, 2 on the CPU)] [--out FILE.json]\n" +
                "--run evaluates a finished pruned run on its test split and writes DIR/sparse_eval.json (see docs/kernels.md).");
            return 0;
        }
        var device = TorchBackend.Initialize(args.Get("device", "auto"), args.Get("libtorch"));
        var dtype = args.Get("dtype", device.type == DeviceType.CUDA ? "float16" : "float32") switch
        {
            "float16" => ScalarType.Float16, "bfloat16" => ScalarType.BFloat16, "float32" => ScalarType.Float32,
            var d => throw new ArgumentException($"--dtype must be float16, bfloat16 or float32, got '{d}'"),
        };
        int? tileRows = Positive(args, "tile-rows"), batch = Positive(args, "batch");
        int iters = args.GetInt("iters", device.type == DeviceType.CUDA ? 10 : 2);  // the CPU reference is slow; its time is a side figure
        var layout = Enum.TryParse<SparseLayout>(args.Get("layout", "auto"), ignoreCase: true, out var l) ? l
            : throw new ArgumentException($"--layout must be auto, bcbp or block, got '{args.Get("layout")}'");
        bool fold = args.Get("fold-bn", "yes") switch
        {
            "yes" => true, "no" => false, var f => throw new ArgumentException($"--fold-bn must be yes or no, got '{f}'"),
        };
        string? outFile = args.Get("out");

        SparseReport report;
        if (args.Get("run") is { } runDir)
        {
            args.ThrowOnUnknown();
            report = EvaluateRun(runDir, args.Sets, tileRows, layout, fold, device, dtype, batch, iters);
            outFile ??= Path.Combine(report.Run!, SparseReport.FileName);
        }
        else
        {
            string arch = args.Get("arch") ?? throw new ArgumentException("give --run DIR (a finished pruned run) or --arch ARCH --weights FILE (a saved pruned model)");
            string weights = args.Get("weights") ?? throw new ArgumentException("--weights is required with --arch (the pruned model's .pt/.safetensors state dict with weight_mask entries)");
            int numClasses = args.GetInt("num-classes", 10), inChannels = args.GetInt("in-channels", 3), size = args.GetInt("input-size", 32);
            args.ThrowOnUnknown();
            if (args.Sets.Count > 0) throw new ArgumentException("--set applies to --run (it overrides the run's config.json); with --arch use --num-classes, --in-channels, --input-size");
            report = Compare(arch, weights, numClasses, inChannels, size, batch ?? 32,
                new SparseSettings(tileRows ?? 64, layout, fold, device, dtype, iters));
        }

        Console.WriteLine(Summarize(report));
        if (outFile is not null)
        {
            OutputJson.Write(outFile, report);
            Console.WriteLine($"-> {outFile}");
        }
        return report.Passed ? 0 : 1;
    }

    static int? Positive(CliArgs args, string key)
    {
        if (!args.Has(key)) return null;
        int v = args.GetInt(key, 0);
        return v >= 1 ? v : throw new ArgumentException($"--{key} must be at least 1, got {v}");
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
        if (r.DenseTop1 is { } dt && r.SparseTop1 is { } st)
            lines.Add(Invariant($"  {r.Inputs} test split, {r.Samples} images: top-1 dense {dt:F2}%, sparse {st:F2}% ") +
                      Invariant($"(loss {r.DenseLoss:F4} / {r.SparseLoss:F4})") +
                      (r.RecordedTop1 is { } rt ? Invariant($"; the run recorded {rt:F2}%") : ""));
        lines.Add(Invariant($"  predictions agree on {r.Agreement:P2} ({r.Disagreements} of {r.Samples} differ); logits rel err ") +
                  Invariant($"{r.LogitsRelErr:E2} overall, {r.MaxLogitsRelErr:E2} worst sample (tol {r.Tolerance:E0}): ") + (r.Passed ? "PASS" : "FAIL"));
        lines.Add(Invariant($"  time per batch of {r.InputShape[0]}: dense {r.DenseMs:F3} ms, sparse {r.SparseMs:F3} ms ({r.DenseMs / r.SparseMs:F2}x)"));
        return string.Join(Environment.NewLine, lines);
    }
}
