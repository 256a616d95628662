using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Modules;
using Bcbp.Kernels.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Inference;

/// <summary>
/// What <c>bcbp verify</c> checks: every kernel against the dense TorchSharp result (masked weight, fp32 with TF32 off)
/// on random and ResNet/VGG layer shapes, BCBP (random and magnitude-pruned) and block masks, fp16 and bf16, each
/// kernel the GPU runs (mma.sync; Hopper wgmma on compute capability 9.0), both conv fetch paths, the fused
/// residual+ReLU epilogue and the linear path. Without a GPU it checks the CPU references and packing.
/// </summary>
public static class KernelVerification
{
    sealed record ConvCase(string Name, int Cin, int Cout, int K, int Stride, int Pad, int Dil, int Batch, int H, int TileRows, double Sparsity);

    static readonly ConvCase[] Cases =
    {
        new("random 1x1", 48, 96, 1, 1, 0, 1, 3, 7, 32, 0.5),
        new("random 3x3 dil2", 40, 64, 3, 1, 2, 2, 8, 11, 32, 0.6),
        new("random 3x3 s2 partial tile", 32, 100, 3, 2, 1, 1, 8, 10, 64, 0.75),
        new("random 3x3 b3", 64, 64, 3, 1, 1, 1, 3, 9, 64, 0.5),
        new("resnet50 layer1.0.conv2", 64, 64, 3, 1, 1, 1, 8, 56, 64, 0.75),
        new("resnet50 layer2.0.conv2 (s2)", 128, 128, 3, 2, 1, 1, 8, 56, 64, 0.5),
        new("resnet50 layer3.1.conv1", 1024, 256, 1, 1, 0, 1, 8, 14, 64, 0.875),
        new("resnet50 layer4.0.downsample (1x1 s2)", 1024, 2048, 1, 2, 0, 1, 8, 14, 128, 0.75),
        new("resnet50 layer4.1.conv2 b1", 512, 512, 3, 1, 1, 1, 1, 7, 64, 0.75),
        new("vgg16 features.10", 128, 256, 3, 1, 1, 1, 8, 56, 128, 0.5),
        // Tile heights only the Hopper (wgmma) kernel takes; elsewhere they are CPU-checked only.
        new("resnet20 layer1 16-row tiles", 16, 16, 3, 1, 1, 1, 8, 32, 16, 0.75),
        new("resnet56 layer3 8-row tiles s2", 32, 64, 3, 2, 1, 1, 8, 16, 8, 0.5),
        new("24-row tiles b5", 40, 48, 3, 1, 1, 1, 5, 9, 24, 0.6),
        new("resnet50 layer4.0.conv3 256-row tiles", 512, 2048, 1, 1, 0, 1, 8, 7, 256, 0.75),
        // Tiles taller than the Hopper kernel's 256-row block: each tile is run as row chunks sharing its index list.
        new("512-row tiles 1x1 (2 blocks of 256 per tile)", 128, 1024, 1, 1, 0, 1, 8, 7, 512, 0.75),
        new("384-row tiles 3x3 (2 blocks of 192 per tile)", 32, 768, 3, 1, 1, 1, 8, 8, 384, 0.5),
    };

    /// <summary>Runs every check on <paramref name="device"/>, printing one line per check; returns the counts and the
    /// closing summary line.</summary>
    public static (int Checks, int Failures, string Summary) Run(Device device, Action<string> print)
    {
        bool gpu = device.type == DeviceType.CUDA;
        // References in true float32: TF32 would put the reference itself ~1e-3 off.
        torch.backends.cudnn.allow_tf32 = false;
        torch.backends.cuda.matmul.allow_tf32 = false;
        int cc = gpu ? Bcbp.Kernels.Ops.KernelPaths.ComputeCapability(device.index < 0 ? 0 : device.index) : 0;
        var gen = new Generator(1234);
        int failures = 0, checks = 0;
        void Report(string what, double err, double tol)
        {
            checks++;
            bool ok = double.IsFinite(err) && err <= tol;
            if (!ok) failures++;
            print($"{(ok ? "ok  " : "FAIL")} {what}: rel err {err:E2} (tol {tol:E0})");
        }

        foreach (var c in Cases)
        {
            using var scope = NewDisposeScope();
            var w = randn(new long[] { c.Cout, c.Cin, c.K, c.K }, generator: gen);
            long cols = (long)c.Cin * c.K * c.K;
            var masks = new (string kind, Tensor mask)[]
            {
                ("bcbp", SyntheticMasks.RandomBcbp(c.Cout, cols, c.TileRows, c.Sparsity, gen).reshape(w.shape)),
                ("bcbp-magnitude", SyntheticMasks.MagnitudeBcbp(w, c.TileRows, c.Sparsity)),
                ("block", SyntheticMasks.RandomBlock(c.Cout, cols, c.TileRows, c.Sparsity, gen).reshape(w.shape)),
            };
            var bias = randn(new long[] { c.Cout }, generator: gen);
            var g = new ConvGeometry(c.K, c.K, c.Stride, c.Stride, c.Pad, c.Pad, c.Dil, c.Dil);
            foreach (var (kind, mask) in masks)
            {
                TiledSparseMatrix m = kind == "block" ? BlockSparseMatrix.Pack(w, mask, c.TileRows) : BcbpMatrix.Pack(w, mask, c.TileRows);
                Report($"{c.Name} [{kind}] pack/unpack", RelErr(m.ToDense(), (w * mask).reshape(c.Cout, -1)), 0);
                // The CPU reference on a small batch (it is the slow path).
                var xs = randn(new long[] { Math.Min(c.Batch, 2), c.Cin, Math.Min(c.H, 14), Math.Min(c.H, 14) }, generator: gen);
                // float64 dense conv: libtorch's float32 CPU conv is itself off by ~1e-1 for some dilated shapes (seen with libtorch-cpu 2.10).
                var dense = nn.functional.conv2d(xs.to(ScalarType.Float64), (w * mask).to(ScalarType.Float64), bias.to(ScalarType.Float64),
                    new long[] { c.Stride }, new long[] { c.Pad }, new long[] { c.Dil });
                Report($"{c.Name} [{kind}] cpu reference", RelErr(SparseReference.Conv2d(m, xs, g, bias), dense), 1e-5);
                if (!gpu) continue;
                var x = randn(new long[] { c.Batch, c.Cin, c.H, c.H }, generator: gen).to(device);
                var refGpu = nn.functional.conv2d(x, (w * mask).to(device), bias.to(device), new long[] { c.Stride }, new long[] { c.Pad }, new long[] { c.Dil });
                var res = randn(refGpu.shape, generator: gen).to(device);
                var refFused = (refGpu + res).relu();
                string fetch = g.IsPointwise ? "gemm" : c.Batch % 8 == 0 ? "conv cp.async" : "conv registers";
                foreach (var kernel in KernelsFor(cc, c.TileRows))
                    foreach (var dt in new[] { ScalarType.Float16, ScalarType.BFloat16 })
                    {
                        double tol = dt == ScalarType.Float16 ? 3e-3 : 2e-2;
                        var module = new BcbpConv2d(m, c.Cin, g, bias) { Path = kernel };
                        Report($"{c.Name} [{kind}] gpu {kernel} {dt} ({fetch})", RelErr(module.forward(x.to(dt)), refGpu), tol);
                        // The fused epilogue: + residual, ReLU (the residual in our CHWN output layout, as blocks pass it).
                        var resChwn = res.to(dt).permute(1, 2, 3, 0).contiguous().permute(3, 0, 1, 2);
                        Report($"{c.Name} [{kind}] gpu {kernel} {dt} fused residual+relu", RelErr(module.Forward(x.to(dt), resChwn, relu: true), refFused), tol);
                    }
            }
        }

        // Linear layers (the GEMM path; N = batch 64 is aligned, 1 and 7 go through the register path).
        foreach (var batch in new[] { 1, 7, 64 })
        {
            using var scope = NewDisposeScope();
            var w = randn(new long[] { 256, 512 }, generator: gen);
            var mask = SyntheticMasks.RandomBcbp(256, 512, 64, 0.75, gen);
            var bias = randn(new long[] { 256 }, generator: gen);
            var lin = new BcbpLinear(BcbpMatrix.Pack(w, mask, 64), bias);
            var x = randn(new long[] { batch, 512 }, generator: gen);
            var dense = nn.functional.linear(x, w * mask, bias);
            Report($"linear 512->256 batch {batch} cpu reference", RelErr(lin.forward(x), dense), 1e-5);
            if (gpu)
                foreach (var kernel in KernelsFor(cc, 64))
                {
                    var l = new BcbpLinear(BcbpMatrix.Pack(w, mask, 64), bias) { Path = kernel };
                    Report($"linear 512->256 batch {batch} gpu {kernel} Float16", RelErr(l.forward(x.to(device).half()), dense.to(device)), 3e-3);
                }
        }

        if (gpu) PlanVerification.Run(device, gen, Report);

        // An unbalanced mask must be refused by BcbpMatrix.
        checks++;
        try
        {
            BcbpMatrix.Pack(ones(64, 32), SyntheticMasks.RandomBlock(64, 32, 32, 0.5, gen, 4), 32);
            var counts = TileColumns.Kept(SyntheticMasks.RandomBlock(64, 32, 32, 0.5, new Generator(1), 4), 32).Select(k => k.Length).Distinct().Count();
            if (counts > 1) { failures++; print("FAIL unbalanced mask was accepted by BcbpMatrix"); }
        }
        catch (ArgumentException e) { print($"ok   unbalanced mask refused: {e.Message[..Math.Min(90, e.Message.Length)]}..."); }

        string summary = (gpu
            ? $"verify: {checks - failures}/{checks} checks passed on {cuda_device_name()}"
            : $"verify: {checks - failures}/{checks} checks passed; GPU checks skipped (no CUDA device: run on a GPU machine, see docs/kernels.md)");
        return (checks, failures, summary);
    }


    static string cuda_device_name() => $"cuda ({torch.cuda.device_count()} device(s))";

    /// <summary>The kernels a tile height runs on for a GPU: mma.sync where tiles are multiples of 32, and the wgmma
    /// kernel on compute capability 9.0.</summary>
    static IEnumerable<Bcbp.Kernels.Ops.KernelPath> KernelsFor(int computeCapability, int tileRows)
    {
        if (tileRows % 32 == 0) yield return Bcbp.Kernels.Ops.KernelPath.MmaSync;
        if (computeCapability == 90 && tileRows % 8 == 0) yield return Bcbp.Kernels.Ops.KernelPath.Wgmma;
    }

    /// <summary>||out - ref|| / ||ref|| in float64 on the CPU.</summary>
    internal static double RelErr(Tensor output, Tensor reference)
    {
        using var scope = NewDisposeScope();
        var o = output.to(ScalarType.Float64).cpu().contiguous();
        var r = reference.to(ScalarType.Float64).cpu().contiguous();
        if (!o.shape.SequenceEqual(r.shape)) return double.PositiveInfinity;
        double denom = r.norm().item<double>();
        return (o - r).norm().item<double>() / (denom == 0 ? 1 : denom);
    }
}
