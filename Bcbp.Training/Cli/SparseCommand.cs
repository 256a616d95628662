using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Bcbp.Kernels.Conversion;
using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Training.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp sparse</c>: loads a saved pruned model (weights + <c>weight_mask</c> buffers), converts it into a sparse
/// inference model (BcbpConv2d/BcbpLinear, optional BN folding) and compares it with the masked dense model on the same
/// input: relative error of the outputs, top-1 agreement, and time per batch of both. Exit code 1 when the outputs
/// differ by more than the dtype's rounding allows.
/// </summary>
public sealed class SparseCommand : ICliCommand
{
    public string Name => "sparse";
    public string Summary => "convert a saved pruned model to BCBP sparse inference and compare it with the masked dense model";

    /// <summary>What the comparison found; written as JSON with <c>--out</c>.</summary>
    public sealed record Report(string Arch, string Weights, string Device, string Dtype, int Batch, int InputSize, int TileRows,
        string Layout, bool FoldBatchNorm, IReadOnlyList<string> Converted, double RelErr, double Top1Agreement, double Tolerance,
        double DenseMs, double SparseMs);

    public int Run(CliArgs args)
    {
        string arch = args.Get("arch") ?? throw new ArgumentException("--arch is required (a model.arch name, e.g. vgg16_cifar)");
        string weights = args.Get("weights") ?? throw new ArgumentException("--weights is required (the pruned model's .pt/.safetensors state dict with weight_mask entries)");
        int numClasses = args.GetInt("num-classes", 10), inChannels = args.GetInt("in-channels", 3);
        int size = args.GetInt("input-size", 32), batch = args.GetInt("batch", 32), tileRows = args.GetInt("tile-rows", 64);
        int iters = args.GetInt("iters", 10);
        var layout = Enum.Parse<SparseLayout>(args.Get("layout", "auto"), ignoreCase: true);
        bool fold = args.Get("fold-bn", "yes") == "yes";
        string? outFile = args.Get("out");
        var device = TorchBackend.Initialize(args.Get("device", "auto"), args.Get("libtorch"));
        var dtype = args.Get("dtype", device.type == DeviceType.CUDA ? "float16" : "float32") switch
        {
            "float16" => ScalarType.Float16, "bfloat16" => ScalarType.BFloat16, "float32" => ScalarType.Float32,
            var d => throw new ArgumentException($"--dtype must be float16, bfloat16 or float32, got '{d}'"),
        };
        args.ThrowOnUnknown();

        var report = Compare(arch, weights, numClasses, inChannels, size, batch, tileRows, layout, fold, device, dtype, iters);
        Console.WriteLine($"sparse: {report.Converted.Count} layers converted ({report.Layout}, tile_rows {tileRows}{(fold ? ", BN folded" : "")}); " +
                          $"outputs rel err {report.RelErr:E2} (tol {report.Tolerance:E0}), top-1 agreement {report.Top1Agreement:P1}; " +
                          $"dense {report.DenseMs:F3} ms, sparse {report.SparseMs:F3} ms per batch of {batch} on {report.Device} {report.Dtype}");
        if (outFile is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
            var tmp = outFile + ".tmp";
            File.WriteAllText(tmp, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            File.Move(tmp, outFile, overwrite: true);
        }
        return report.RelErr <= report.Tolerance ? 0 : 1;
    }

    /// <summary>Loads, converts and compares; the model and input are seeded so runs repeat.</summary>
    public static Report Compare(string arch, string weights, int numClasses, int inChannels, int size, int batch, int tileRows,
        SparseLayout layout, bool fold, Device device, ScalarType dtype, int iters)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var model = ModelFactory.Create(arch, numClasses, inChannels);
        StateDictIO.Load(model, weights, strict: true, loadMasks: true);
        var masks = model.named_modules()
            .Select(p => (p.module, mask: p.module.named_buffers(recurse: false).FirstOrDefault(b => b.name == "weight_mask").buffer))
            .Where(p => p.mask is not null).ToList();
        if (masks.Count == 0) throw new InvalidDataException($"'{weights}' has no weight_mask entries: it is not a pruned model");
        foreach (var (module, mask) in masks)
            module.named_parameters(recurse: false).First(p => p.name == "weight").parameter.mul_(mask!);  // the masked dense model
        model.eval();
        model.to(device).to(dtype);
        var x = randn(new long[] { batch, inChannels, size, size }, generator: new Generator(17)).to(dtype).to(device);
        var dense = model.call(x).to(ScalarType.Float32).cpu();
        double denseMs = TimeMs(() => model.call(x), iters, device);
        var converted = SparseConversion.Convert(model, tileRows, layout, fold);
        var sparse = model.call(x).to(ScalarType.Float32).cpu();
        double sparseMs = TimeMs(() => model.call(x), iters, device);
        double relErr = (sparse - dense).norm().item<float>() / Math.Max(dense.norm().item<float>(), 1e-30f);
        double agree = sparse.argmax(1).eq(dense.argmax(1)).to(ScalarType.Float32).mean().item<float>();
        double tol = dtype == ScalarType.Float32 ? 1e-4 : 2e-2;
        return new Report(arch, weights, device.ToString(), dtype.ToString(), batch, size, tileRows, layout.ToString(), fold,
            converted, relErr, agree, tol, denseMs, sparseMs);
    }

    static double TimeMs(Func<Tensor> fn, int iters, Device device)
    {
        void Sync() { if (device.type == DeviceType.CUDA) torch.cuda.synchronize(); }
        for (int i = 0; i < 2; i++) { using var s = NewDisposeScope(); fn(); }
        Sync();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < iters; i++) { using var s = NewDisposeScope(); fn(); }
        Sync();
        return sw.Elapsed.TotalMilliseconds / Math.Max(1, iters);
    }
}
