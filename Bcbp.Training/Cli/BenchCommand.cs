using Bcbp.Models.IO;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Bcbp.Kernels.Conversion;
using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Ops;
using Bcbp.Models;
using Bcbp.Training.Backend;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp bench</c>: per ResNet-50 and VGG-16 conv layer shape, batch and sparsity, the time of the dense cuDNN conv
/// (TorchSharp, fp16), the ideal (a dense cuBLAS GEMM on the compacted [M x K'] weight and an already gathered X), our
/// BCBP kernel and our block kernel (random block mask of the same sparsity); then end-to-end ResNet-50 inference
/// (random weights, random balanced masks on every conv but the stem), dense cuDNN vs converted BCBP model, images/s.
/// Writes bench.json and bench.md.
/// </summary>
public sealed class BenchCommand : ICliCommand
{
    public string Name => "bench";
    public string Summary => "time the BCBP and block kernels against dense cuDNN and the ideal compacted GEMM";

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

    /// <summary>One measured case; times in milliseconds (median-free mean over a queued loop).</summary>
    public sealed record Row(string Model, string Layer, int Batch, double Sparsity, int TileRows, long M, long K, long KeptK, long N,
        double DenseMs, double IdealMs, double BcbpMs, double BlockMs, double BlockWit);

    /// <summary>One end-to-end measurement; <c>MaxRelErr</c> compares the BCBP model's logits with the masked dense model's.</summary>
    public sealed record EndToEndRow(string Model, int Batch, double Sparsity, int TileRows, double DenseMs, double BcbpMs,
        double DenseImagesPerSec, double BcbpImagesPerSec, double LogitsRelErr, double Top1Agreement, int ConvertedLayers);

    public int Run(CliArgs args)
    {
        if (args.Has("help"))
        {
            Console.WriteLine("usage: bcbp bench [--device cuda] [--libtorch DIR] [--out DIR (experiments/results/bench)] [--model all|resnet50|vgg16]\n" +
                              "                  [--batch 1,32,256] [--sparsity 0.5,0.75,0.875] [--tile-rows 64] [--iters 20]\n" +
                              "                  [--layers yes|no] [--e2e yes|no] [--e2e-batch 1,32,256] [--e2e-sparsity 0.75]\n" +
                              "  per layer: dense cuDNN, ideal compacted GEMM, our BCBP and block kernels; ResNet-50 end to end (docs/kernels.md)");
            return 0;
        }
        var device = TorchBackend.Initialize(args.Get("device", "cuda"), args.Get("libtorch"));
        string outDir = args.Get("out", "experiments/results/bench");
        var batches = Ints(args.Get("batch", "1,32,256"));
        var sparsities = args.Get("sparsity", "0.5,0.75,0.875").Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        int tileRows = args.GetInt("tile-rows", 64), iters = args.GetInt("iters", 20);
        string only = args.Get("model", "all");
        var e2eBatches = Ints(args.Get("e2e-batch", "1,32,256"));
        double e2eSparsity = double.Parse(args.Get("e2e-sparsity", "0.75"), CultureInfo.InvariantCulture);
        bool layers = args.Get("layers", "yes") == "yes", e2e = args.Get("e2e", "yes") == "yes";
        args.ThrowOnUnknown();
        if (device.type != DeviceType.CUDA) throw new InvalidOperationException("bench needs a CUDA device (--device cuda); on a CPU-only machine run `bcbp verify`");

        var gen = new Generator(7);
        var rows = new List<Row>();
        foreach (var layer in Layers.Where(l => layers && (only == "all" || l.Model == only)))
            foreach (var batch in batches)
                foreach (var s in sparsities)
                {
                    using var scope = NewDisposeScope();
                    var row = Measure(layer, batch, s, tileRows, iters, device, gen);
                    rows.Add(row);
                    Console.WriteLine($"{row.Model,-8} {row.Layer,-15} b{row.Batch,-3} s{row.Sparsity:0.###} dense {row.DenseMs,8:F3} ideal {row.IdealMs,8:F3} " +
                                      $"bcbp {row.BcbpMs,8:F3} block {row.BlockMs,8:F3} (wit {row.BlockWit:F2})  bcbp/ideal {row.BcbpMs / row.IdealMs:F2} dense/bcbp {row.DenseMs / row.BcbpMs:F2}");
                }
        var endToEnd = new List<EndToEndRow>();
        if (e2e)
            foreach (var batch in e2eBatches)
            {
                var r = EndToEnd(batch, e2eSparsity, tileRows, Math.Max(5, iters / 2), device);
                endToEnd.Add(r);
                Console.WriteLine($"resnet50 end-to-end b{r.Batch} s{r.Sparsity}: dense {r.DenseMs:F2} ms ({r.DenseImagesPerSec:F0} img/s), bcbp {r.BcbpMs:F2} ms " +
                                  $"({r.BcbpImagesPerSec:F0} img/s), speedup {r.DenseMs / r.BcbpMs:F2}, logits rel err {r.LogitsRelErr:E2}, top-1 agreement {r.Top1Agreement:P1}");
            }
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteAllText(Path.Combine(outDir, "bench.json"), JsonSerializer.Serialize(new
        {
            device = torch.cuda.is_available() ? "cuda" : "cpu", tile_rows = tileRows, iters, dtype = "float16", rows, end_to_end = endToEnd,
        }, new JsonSerializerOptions { WriteIndented = true }));
        AtomicFile.WriteAllText(Path.Combine(outDir, "bench.md"), Markdown(rows) + "\n" + Markdown(endToEnd));
        Console.WriteLine($"bench: {rows.Count} cases written to {outDir}/bench.json and bench.md");
        return 0;
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
        var pb = PackedWeight.Create(bcbp, device, ScalarType.Float16);
        var pk = PackedWeight.Create(block, device, ScalarType.Float16);
        var x = randn(new long[] { batch, l.Cin, l.H, l.H }, dtype: ScalarType.Float16, device: device);
        var xc = x.permute(1, 2, 3, 0).contiguous();
        var wd = w.to(ScalarType.Float16).to(device);
        long kept = bcbp.KeptPerTile;
        var wc = randn(new long[] { l.Cout, kept }, dtype: ScalarType.Float16, device: device);
        var xg = randn(new long[] { kept, n }, dtype: ScalarType.Float16, device: device);
        double dense = TimeMs(() => nn.functional.conv2d(x, wd, null, new long[] { l.Stride }, new long[] { pad }), iters);
        double ideal = TimeMs(() => wc.matmul(xg), iters);
        double ours = TimeMs(() => GatherGemm.Conv2d(pb, xc, g), iters);
        double blk = TimeMs(() => GatherGemm.Conv2d(pk, xc, g), iters);
        return new Row(l.Model, l.Name, batch, sparsity, tileRows, l.Cout, cols, kept, n, dense, ideal, ours, blk, block.Wit);
    }

    static EndToEndRow EndToEnd(int batch, double sparsity, int tileRows, int iters, Device device)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var gen = new Generator(11);
        var model = ModelFactory.Create("resnet50");
        foreach (var (name, m) in model.named_modules())
            if (m is TorchSharp.Modules.Conv2d conv && name != "conv1")
            {
                var w = conv.weight!;
                var mask = SyntheticMasks.RandomBcbp(w.shape[0], w.numel() / w.shape[0], tileRows, sparsity, gen).reshape(w.shape);
                w.mul_(mask);
                conv.register_buffer("weight_mask", mask);
            }
        model.eval();
        model.to(device).half();
        var x = randn(new long[] { batch, 3, 224, 224 }, dtype: ScalarType.Float16, device: device, generator: null);
        var dense = model.forward(x).to(ScalarType.Float32);
        double denseMs = TimeMs(() => model.forward(x), iters);
        var converted = SparseConversion.Convert(model, tileRows, SparseLayout.Bcbp, foldBatchNorm: true);
        var sparse = model.forward(x).to(ScalarType.Float32);
        double sparseMs = TimeMs(() => model.forward(x), iters);
        double relErr = (sparse - dense).norm().item<float>() / dense.norm().item<float>();
        double agree = sparse.argmax(1).eq(dense.argmax(1)).to(ScalarType.Float32).mean().item<float>();
        return new EndToEndRow("resnet50", batch, sparsity, tileRows, denseMs, sparseMs, batch * 1000 / denseMs, batch * 1000 / sparseMs,
            relErr, agree, converted.Count);
    }

    static string Markdown(IReadOnlyList<EndToEndRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| model | batch | sparsity | dense ms | BCBP ms | dense img/s | BCBP img/s | speedup | logits rel err | top-1 agreement | converted layers |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Model} | {r.Batch} | {r.Sparsity:0.###} | {r.DenseMs:F2} | {r.BcbpMs:F2} | {r.DenseImagesPerSec:F0} | {r.BcbpImagesPerSec:F0} | {r.DenseMs / r.BcbpMs:F2} | {r.LogitsRelErr:E2} | {r.Top1Agreement:P1} | {r.ConvertedLayers} |"));
        return sb.ToString();
    }

    /// <summary>Mean time of <paramref name="iters"/> queued calls after warm-up (the launch queue hides host overhead).</summary>
    static double TimeMs(Func<Tensor> fn, int iters)
    {
        for (int i = 0; i < 3; i++) { using var s = NewDisposeScope(); fn(); }
        torch.cuda.synchronize();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < iters; i++) { using var s = NewDisposeScope(); fn(); }
        torch.cuda.synchronize();
        return sw.Elapsed.TotalMilliseconds / iters;
    }

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

    static int[] Ints(string csv) => csv.Split(',').Select(s => int.Parse(s.Trim(), CultureInfo.InvariantCulture)).ToArray();
}
