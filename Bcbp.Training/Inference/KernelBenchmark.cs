using Bcbp.Models.IO;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bcbp.Kernels.Conversion;
using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Ops;
using Bcbp.Kernels.Plan;
using Bcbp.Models;
using Bcbp.Training.Backend;
using Bcbp.Training.Fitting;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Inference;

/// <summary>What <c>bcbp bench</c> measures (<see cref="KernelBenchmark"/>).</summary>
/// <param name="Only">"all" or one model's layers.</param>
/// <param name="Batches">Batch sizes of the per-layer cases.</param>
/// <param name="Sparsities">Sparsities of the per-layer cases.</param>
/// <param name="TileRows">Rows per BCBP tile (and block height).</param>
/// <param name="Iters">Timed calls per case.</param>
/// <param name="Layers">Time the per-layer cases.</param>
/// <param name="EndToEnd">Time whole models end to end.</param>
/// <param name="Models">Models of the end-to-end runs.</param>
/// <param name="EndToEndBatches">Batch sizes of the end-to-end runs.</param>
/// <param name="EndToEndSparsities">Sparsities of every conv but the first in the end-to-end runs.</param>
/// <param name="ProfilePlan">Also time each launch of the whole-model plan (<see cref="ModelPlan.ProfileSteps"/>).</param>
public sealed record KernelBenchmarkSettings(string Only, int[] Batches, double[] Sparsities, int TileRows, int Iters, bool Layers,
    bool EndToEnd, string[] Models, int[] EndToEndBatches, double[] EndToEndSparsities, bool ProfilePlan = false);

/// <summary>
/// The kernel benchmark of <c>bcbp bench</c>: per ResNet-50 and VGG-16 conv layer shape, batch and sparsity, the time of the dense cuDNN conv
/// (TorchSharp, fp16, channels_last strides), the ideal (a dense cuBLAS GEMM on the compacted [M x K'] weight and an
/// already gathered X), our BCBP kernel on the path the device takes (and on each kernel, mma.sync and Hopper wgmma,
/// where it runs) and our block kernel (random block mask of the same sparsity); then end-to-end inference of
/// ResNet-50, VGG-16 (224x224) and CIFAR ResNet-56 (32x32) with random weights and random balanced masks on every conv
/// but the first, dense TorchSharp vs the converted model (BatchNorm folded, epilogues fused), images/s. PyTorch's
/// best dense models are measured beside it by experiments/bench/pytorch_baselines.py. Writes bench.json and bench.md.
/// </summary>
public static class KernelBenchmark
{
    sealed record Layer(string Model, string Name, int Cin, int Cout, int K, int Stride, int H);

    static readonly Layer[] Layers =
    {
        new("resnet50", "layer1.0.conv1", 64, 64, 1, 1, 56), new("resnet50", "layer1.0.conv2", 64, 64, 3, 1, 56),
        new("resnet50", "layer1.0.conv3", 64, 256, 1, 1, 56), new("resnet50", "layer1.1.conv1", 256, 64, 1, 1, 56),
        new("resnet50", "layer2.1.conv1", 512, 128, 1, 1, 28), new("resnet50", "layer2.1.conv2", 128, 128, 3, 1, 28),
        new("resnet50", "layer2.1.conv3", 128, 512, 1, 1, 28), new("resnet50", "layer3.1.conv1", 1024, 256, 1, 1, 14),
        new("resnet50", "layer3.1.conv2", 256, 256, 3, 1, 14), new("resnet50", "layer3.1.conv3", 256, 1024, 1, 1, 14),
        new("resnet50", "layer4.1.conv1", 2048, 512, 1, 1, 7), new("resnet50", "layer4.1.conv2", 512, 512, 3, 1, 7),
        new("resnet50", "layer4.1.conv3", 512, 2048, 1, 1, 7),
        new("vgg16", "features.2", 64, 64, 3, 1, 224), new("vgg16", "features.7", 128, 128, 3, 1, 112),
        new("vgg16", "features.14", 256, 256, 3, 1, 56), new("vgg16", "features.21", 512, 512, 3, 1, 28),
        new("vgg16", "features.28", 512, 512, 3, 1, 14),
    };

    /// <summary>One measured case; times in milliseconds per call (<see cref="ForwardTimer"/>).</summary>
    public sealed record Row(string Model, string Layer, int Batch, double Sparsity, int TileRows, long M, long K, long KeptK, long N,
        double DenseMs, double IdealMs, double BcbpMs, double BlockMs, double BlockWit, string Kernel, double? MmaSyncMs, double? WgmmaMs);

    /// <summary>One end-to-end measurement; <c>LogitsRelErr</c> compares the BCBP model's logits with the masked dense model's.
    /// <c>Plan*</c>: the whole model (dense stem and classifier included) as one <see cref="PlannedModel"/>; <c>PlanNote</c>
    /// says why it fell back or could not capture a graph (null when it replayed one); <c>PlanProfile</c> each launch's
    /// time (with --profile-plan).</summary>
    public sealed record EndToEndRow(string Model, int Batch, double Sparsity, int TileRows, double DenseMs, double BcbpMs,
        double DenseImagesPerSec, double BcbpImagesPerSec, double LogitsRelErr, double Top1Agreement, int ConvertedLayers,
        double PlanMs, double PlanImagesPerSec, double PlanLogitsRelErr, bool PlanGraphed, string? PlanNote,
        IReadOnlyList<PlanStepTime>? PlanProfile = null);

    // CIFAR ResNet-56's 16-channel stages are one tile at 64 rows: it runs with the suites' 16-row tiles.
    static readonly (string Arch, int Size, int Classes, int? TileRows)[] EndToEndModels =
        { ("resnet50", 224, 1000, null), ("vgg16", 224, 1000, null), ("resnet56", 32, 10, 16) };

    /// <summary>The models the end-to-end runs know.</summary>
    public static IReadOnlyList<string> Models => EndToEndModels.Select(m => m.Arch).ToArray();

    /// <summary>Measures every case of <paramref name="s"/> on <paramref name="device"/> (CUDA), printing one line each.</summary>
    public static (IReadOnlyList<Row> Rows, IReadOnlyList<EndToEndRow> EndToEnd) Run(KernelBenchmarkSettings s, Device device, Action<string> print)
    {
        foreach (var arch in s.Models)
            if (EndToEndModels.All(m => m.Arch != arch))
                throw new ArgumentException($"--e2e-model {arch}: known models are {string.Join(", ", Models)}");
        if (device.type != DeviceType.CUDA) throw new InvalidOperationException("bench needs a CUDA device (--device cuda); on a CPU-only machine run `bcbp verify`");
        var gen = new Generator(7);
        var rows = new List<Row>();
        foreach (var layer in Layers.Where(l => s.Layers && (s.Only == "all" || l.Model == s.Only)))
            foreach (var batch in s.Batches)
                foreach (var sp in s.Sparsities)
                {
                    using var scope = NewDisposeScope();
                    var row = Measure(layer, batch, sp, s.TileRows, s.Iters, device, gen);
                    rows.Add(row);
                    print($"{row.Model,-8} {row.Layer,-15} b{row.Batch,-3} s{row.Sparsity:0.###} dense {row.DenseMs,8:F3} ideal {row.IdealMs,8:F3} " +
                                      $"bcbp {row.BcbpMs,8:F3} block {row.BlockMs,8:F3} (wit {row.BlockWit:F2})  bcbp/ideal {row.BcbpMs / row.IdealMs:F2} dense/bcbp {row.DenseMs / row.BcbpMs:F2}");
                }
        var endToEnd = new List<EndToEndRow>();
        if (s.EndToEnd)
            foreach (var arch in s.Models)
                foreach (var sp in s.EndToEndSparsities)
                    foreach (var r in EndToEnd(arch, s.EndToEndBatches, sp, s.TileRows, Math.Max(5, s.Iters / 2), device, s.ProfilePlan))
                    {
                        endToEnd.Add(r);
                        print($"{r.Model} end-to-end b{r.Batch} s{r.Sparsity}: dense {r.DenseMs:F2} ms ({r.DenseImagesPerSec:F0} img/s), bcbp {r.BcbpMs:F2} ms " +
                                          $"({r.BcbpImagesPerSec:F0} img/s), speedup {r.DenseMs / r.BcbpMs:F2}, logits rel err {r.LogitsRelErr:E2}, top-1 agreement {r.Top1Agreement:P1}; " +
                                          $"plan {r.PlanMs:F2} ms ({r.PlanImagesPerSec:F0} img/s, {(r.PlanGraphed ? "CUDA graph" : "no graph: " + r.PlanNote)}), rel err {r.PlanLogitsRelErr:E2}");
                        if (r.PlanProfile is { } profile) PrintProfile(profile, r.PlanMs, print);
                    }
        return (rows, endToEnd);
    }

    /// <summary>Writes bench.json and bench.md into <paramref name="outDir"/>.</summary>
    public static void Write(string outDir, KernelBenchmarkSettings s, IReadOnlyList<Row> rows, IReadOnlyList<EndToEndRow> endToEnd)
    {
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteAllText(Path.Combine(outDir, "bench.json"), JsonSerializer.Serialize(new
        {
            device = torch.cuda.is_available() ? "cuda" : "cpu", tile_rows = s.TileRows, iters = s.Iters, dtype = "float16", rows, end_to_end = endToEnd,
        }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        AtomicFile.WriteAllText(Path.Combine(outDir, "bench.md"), Markdown(rows) + "\n" + Markdown(endToEnd));
    }

    static Row Measure(Layer l, int batch, double sparsity, int tileRows, int iters, Device device, Generator gen)
    {
        int pad = l.K / 2;
        var g = new ConvGeometry(l.K, l.K, l.Stride, l.Stride, pad, pad);
        var (oh, ow) = g.OutputSize(l.H, l.H);
        long cols = (long)l.Cin * l.K * l.K, n = (long)batch * oh * ow;
        var w = randn(new long[] { l.Cout, l.Cin, l.K, l.K }, generator: gen);
        var bcbp = BcbpMatrix.Pack(w, SyntheticMasks.RandomBcbp(l.Cout, cols, tileRows, sparsity, gen).reshape(w.shape), tileRows);
        var block = BlockSparseMatrix.Pack(w, SyntheticMasks.RandomBlock(l.Cout, cols, tileRows, sparsity, gen).reshape(w.shape), tileRows);
        int ordinal = device.index < 0 ? 0 : device.index;
        var path = KernelPaths.Choose(ordinal, tileRows, g.IsPointwise, null);
        var pb = PackedWeight.Create(bcbp, device, ScalarType.Float16, path: path);
        var pk = PackedWeight.Create(block, device, ScalarType.Float16, path: path);
        var x = randn(new long[] { batch, l.Cin, l.H, l.H }, dtype: ScalarType.Float16, device: device);
        var xc = x.permute(1, 2, 3, 0).contiguous();
        // channels_last strides (TorchSharp has no memory_format): cuDNN picks its NHWC kernels, as PyTorch users get.
        var xl = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        var wd = w.to(ScalarType.Float16).to(device).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        // The same BCBP weight on the other kernel this GPU runs, if any (the chosen one is timed as "bcbp").
        var other = path == KernelPath.Wgmma ? (tileRows % 32 == 0 ? KernelPath.MmaSync : (KernelPath?)null)
            : KernelPaths.ComputeCapability(ordinal) == 90 ? KernelPath.Wgmma : null;
        var po = other is { } o ? PackedWeight.Create(bcbp, device, ScalarType.Float16, path: o) : null;
        long kept = bcbp.KeptPerTile;
        var wc = randn(new long[] { l.Cout, kept }, dtype: ScalarType.Float16, device: device);
        var xg = randn(new long[] { kept, n }, dtype: ScalarType.Float16, device: device);
        var fns = new List<Func<Tensor>>
        {
            () => nn.functional.conv2d(xl, wd, null, new long[] { l.Stride }, new long[] { pad }), () => wc.matmul(xg),
            () => GatherGemm.Conv2d(pb, xc, g), () => GatherGemm.Conv2d(pk, xc, g),
        };
        if (po is not null) fns.Add(() => GatherGemm.Conv2d(po, xc, g));
        var ms = ForwardTimer.MedianMs(fns, ForwardTimer.DefaultWarmup, iters, device);
        double? On(KernelPath k) => k == path ? ms[2] : k == other ? ms[4] : null;
        return new Row(l.Model, l.Name, batch, sparsity, tileRows, l.Cout, cols, kept, n, ms[0], ms[1], ms[2], ms[3], block.Wit,
            path.ToString(), On(KernelPath.MmaSync), On(KernelPath.Wgmma));
    }

    /// <summary>One model with random balanced masks on every conv but the first: dense TorchSharp timed at each batch,
    /// then converted (BN folded, epilogues fused) and timed layer by layer, then converted with its dense stem and
    /// classifier too and timed as a whole-model plan replaying a CUDA graph (<see cref="PlannedModel"/>).</summary>
    static IEnumerable<EndToEndRow> EndToEnd(string arch, int[] batches, double sparsity, int tileRows, int iters, Device device, bool profile)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (_, size, classes, rows) = EndToEndModels.First(m => m.Arch == arch);
        tileRows = rows ?? tileRows;
        nn.Module<Tensor, Tensor> Pruned(bool half)
        {
            random.manual_seed(7);                    // both copies get the same weights
            var m = ModelFactory.Create(arch, classes);
            SyntheticMasks.PruneModel(m, tileRows, sparsity, new Generator(11));
            SyntheticMasks.CalibrateBatchNorm(m, new long[] { 8, 3, size, size }, new Generator(12));
            m.to(device);
            if (half) m.half();
            return m;
        }
        var model = Pruned(half: true);
        var inputs = batches.Select(b => randn(new long[] { b, 3, size, size }, dtype: ScalarType.Float16, device: device)).ToArray();
        var dense = inputs.Select(x => model.forward(x).to(ScalarType.Float32)).ToArray();
        var denseMs = inputs.Select(x => TimeMs(() => model.forward(x), iters, device)).ToArray();
        var converted = SparseConversion.Convert(model, tileRows, SparseLayout.Bcbp, foldBatchNorm: true).Converted;
        var whole = Pruned(half: false);              // BatchNorm folded in float32; packed in fp16 at first use
        SparseConversion.Convert(whole, tileRows, SparseLayout.Bcbp, foldBatchNorm: true, dense: true);
        using var planned = new PlannedModel(whole);
        for (int i = 0; i < batches.Length; i++)
        {
            var x = inputs[i];
            var sparse = model.forward(x).to(ScalarType.Float32);
            double sparseMs = TimeMs(() => model.forward(x), iters, device);
            var plan = planned.forward(x).to(ScalarType.Float32);
            double planMs = TimeMs(() => planned.forward(x), iters, device);
            var comparison = new OutputComparison();
            comparison.Add(dense[i], sparse, null);
            var planComparison = new OutputComparison();
            planComparison.Add(dense[i], plan, null);
            yield return new EndToEndRow(arch, batches[i], sparsity, tileRows, denseMs[i], sparseMs, batches[i] * 1000 / denseMs[i],
                batches[i] * 1000 / sparseMs, comparison.RelErr, comparison.Agreement, converted.Count,
                planMs, batches[i] * 1000 / planMs, planComparison.RelErr, planned.LastPlan?.Graphed ?? false,
                planned.FallbackReason ?? planned.LastPlan?.CaptureError,
                profile && planned.FallbackReason is null ? planned.LastPlan?.ProfileSteps(iters) : null);
        }
    }

    /// <summary>The profile's sum against the graph's time, the time per kind of kernel, and the slowest launches.</summary>
    static void PrintProfile(IReadOnlyList<PlanStepTime> steps, double graphMs, Action<string> print)
    {
        double sum = steps.Sum(s => s.Ms);
        print(string.Create(CultureInfo.InvariantCulture, $"  plan profile: {steps.Count} launches one by one {sum:F3} ms (graph replay {graphMs:F3} ms); by kernel: ") +
              string.Join(", ", steps.GroupBy(s => s.Kernel).OrderByDescending(g => g.Sum(s => s.Ms))
                  .Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Key} {g.Count()}x {g.Sum(s => s.Ms):F3} ms"))));
        foreach (var s in steps.OrderByDescending(s => s.Ms).Take(10))
            print(string.Create(CultureInfo.InvariantCulture, $"    #{s.Index,-3} {s.Ms,7:F4} ms  {s.Kernel,-18} {s.Step}  [{s.Resources}]"));
    }

    static string Markdown(IReadOnlyList<EndToEndRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| model | batch | sparsity | dense ms | BCBP ms | dense img/s | BCBP img/s | speedup | logits rel err | top-1 agreement | converted layers | plan img/s | plan graph | plan rel err |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Model} | {r.Batch} | {r.Sparsity:0.###} | {r.DenseMs:F2} | {r.BcbpMs:F2} | {r.DenseImagesPerSec:F0} | {r.BcbpImagesPerSec:F0} | {r.DenseMs / r.BcbpMs:F2} | {r.LogitsRelErr:E2} | {r.Top1Agreement:P1} | {r.ConvertedLayers} | {r.PlanImagesPerSec:F0} | {(r.PlanGraphed ? "yes" : "no")} | {r.PlanLogitsRelErr:E2} |"));
        return sb.ToString();
    }

    /// <summary>One model's time per forward pass (<see cref="ForwardTimer"/>; conversion is in place, so dense and
    /// sparse are timed one after the other, not in turns).</summary>
    static double TimeMs(Func<Tensor> forward, int iters, Device device) =>
        ForwardTimer.MedianMs(new[] { forward }, ForwardTimer.DefaultWarmup, iters, device)[0];

    static string Markdown(IReadOnlyList<Row> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| model | layer | batch | sparsity | M | K | K' | N | dense ms | ideal ms | BCBP ms | block ms | BCBP / ideal | dense / BCBP | block / BCBP |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Model} | {r.Layer} | {r.Batch} | {r.Sparsity:0.###} | {r.M} | {r.K} | {r.KeptK} | {r.N} | {r.DenseMs:F3} | {r.IdealMs:F3} | {r.BcbpMs:F3} | {r.BlockMs:F3} | {r.BcbpMs / r.IdealMs:F2} | {r.DenseMs / r.BcbpMs:F2} | {r.BlockMs / r.BcbpMs:F2} |"));
        return sb.ToString();
    }

}
