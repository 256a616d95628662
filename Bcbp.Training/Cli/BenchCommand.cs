using System.CommandLine;
using Bcbp.Models.IO;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Bcbp.Kernels.Conversion;
using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Ops;
using Bcbp.Models;
using Bcbp.Training.Backend;
using Bcbp.Training.Fitting;
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
        double DenseMs, double IdealMs, double BcbpMs, double BlockMs, double BlockWit);

    /// <summary>One end-to-end measurement; <c>MaxRelErr</c> compares the BCBP model's logits with the masked dense model's.</summary>
    public sealed record EndToEndRow(string Model, int Batch, double Sparsity, int TileRows, double DenseMs, double BcbpMs,
        double DenseImagesPerSec, double BcbpImagesPerSec, double LogitsRelErr, double Top1Agreement, int ConvertedLayers);

    readonly Option<string> _out = CliOptions.Text("--out", "experiments/results/bench", "folder for bench.json and bench.md", "DIR");
    readonly Option<string?> _model = CliOptions.Choice("--model", "all", "which model's layers to time", "all", "resnet50", "vgg16");
    readonly Option<string> _batch = CliOptions.IntList("--batch", "1,32,256", "batch sizes of the per-layer cases");
    readonly Option<string> _sparsity = CliOptions.FractionList("--sparsity", "0.5,0.75,0.875", "sparsities of the per-layer cases");
    readonly Option<int> _tileRows = CliOptions.Int("--tile-rows", 64, "rows per BCBP tile (and block height)");
    readonly Option<int> _iters = CliOptions.Int("--iters", 20, "timed calls per case (mean after 3 warm-up calls)");
    readonly Option<string?> _layers = CliOptions.Choice("--layers", "yes", "time the per-layer cases", "yes", "no");
    readonly Option<string?> _e2e = CliOptions.Choice("--e2e", "yes", "time ResNet-50 end to end", "yes", "no");
    readonly Option<string> _e2eBatch = CliOptions.IntList("--e2e-batch", "1,32,256", "batch sizes of the end-to-end runs");
    readonly Option<double> _e2eSparsity = new("--e2e-sparsity")
    {
        Description = "sparsity of every conv but the stem in the end-to-end runs", DefaultValueFactory = _ => 0.75, HelpName = "S",
    };
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("bench", "time our BCBP and block kernels against dense cuDNN and the ideal compacted GEMM per ResNet-50/VGG-16 " +
                                           "layer, then ResNet-50 end to end (needs CUDA; docs/kernels.md)")
        {
            _out, _model, _batch, _sparsity, _tileRows, _iters, _layers, _e2e, _e2eBatch, _e2eSparsity,
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
        double e2eSparsity = p.GetValue(_e2eSparsity);
        bool layers = p.GetValue(_layers) == "yes", e2e = p.GetValue(_e2e) == "yes";
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
        return ExitCodes.Ok;
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
        var ms = ForwardTimer.MedianMs(new Func<Tensor>[]
        {
            () => nn.functional.conv2d(x, wd, null, new long[] { l.Stride }, new long[] { pad }), () => wc.matmul(xg),
            () => GatherGemm.Conv2d(pb, xc, g), () => GatherGemm.Conv2d(pk, xc, g),
        }, ForwardTimer.DefaultWarmup, iters, device);
        return new Row(l.Model, l.Name, batch, sparsity, tileRows, l.Cout, cols, kept, n, ms[0], ms[1], ms[2], ms[3], block.Wit);
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
                WeightMask.Register(conv, mask);
            }
        model.eval();
        model.to(device).half();
        var x = randn(new long[] { batch, 3, 224, 224 }, dtype: ScalarType.Float16, device: device, generator: null);
        var dense = model.forward(x).to(ScalarType.Float32);
        double denseMs = TimeMs(() => model.forward(x), iters, device);
        var converted = SparseConversion.Convert(model, tileRows, SparseLayout.Bcbp, foldBatchNorm: true).Converted;
        var sparse = model.forward(x).to(ScalarType.Float32);
        double sparseMs = TimeMs(() => model.forward(x), iters, device);
        var comparison = new OutputComparison();
        comparison.Add(dense, sparse, null);
        return new EndToEndRow("resnet50", batch, sparsity, tileRows, denseMs, sparseMs, batch * 1000 / denseMs, batch * 1000 / sparseMs,
            comparison.RelErr, comparison.Agreement, converted.Count);
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
