using Bcbp.Kernels.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Ops;

/// <summary>
/// The gather-GEMM CUDA kernels on TorchSharp tensors: Y = act(W_sparse * X + bias (+ residual)) with the kept rows of
/// X gathered inside the kernel, act = ReLU or identity (the fused epilogue). The packed weight's
/// <see cref="PackedWeight.Path"/> picks the kernel: Cuda/gather_gemm.cu (mma.sync) or Cuda/gather_gemm_sm90.cu
/// (Hopper wgmma). Launched on the legacy default stream, after the work PyTorch queued there.
/// </summary>
public static class GatherGemm
{
    /// <summary>Y [M x N] = W * X for X [K x N] (fp16/bf16, CUDA, contiguous), plus a per-row fp32 bias, plus
    /// <paramref name="residual"/> [M x N] (contiguous, X's dtype), then ReLU if <paramref name="relu"/>.</summary>
    public static Tensor Gemm(PackedWeight w, Tensor x, Tensor? bias = null, Tensor? residual = null, bool relu = false)
    {
        CheckGemmInput(w, x);
        var y = empty(w.Source.Rows, x.shape[1], dtype: x.dtype, device: x.device);
        using var launch = PrepareGemm(w, x, y, bias, residual, relu);
        launch.Run(CudaDriver.LegacyStream);
        return y;
    }

    /// <summary>
    /// Implicit-GEMM convolution: x is [C x H x W x B] (CHWN, contiguous), the result is [M x OH x OW x B] (CHWN), with
    /// the same epilogue as <see cref="Gemm"/> (<paramref name="residual"/> CHWN like the result). Batches that are a
    /// multiple of 8 use 16-byte cp.async gathers; others use the register path.
    /// </summary>
    public static Tensor Conv2d(PackedWeight w, Tensor xChwn, ConvGeometry g, Tensor? bias = null, Tensor? residual = null, bool relu = false)
    {
        var y = empty(ConvOutputShape(w, xChwn, g), dtype: xChwn.dtype, device: xChwn.device);
        using var launch = PrepareConv2d(w, xChwn, y, g, bias, residual, relu);
        launch.Run(CudaDriver.LegacyStream);
        return y;
    }

    /// <summary>The CHWN output shape [M x OH x OW x B] of <see cref="Conv2d"/> for a CHWN input.</summary>
    public static long[] ConvOutputShape(PackedWeight w, Tensor xChwn, ConvGeometry g)
    {
        if (xChwn.dim() != 4 || xChwn.shape[0] * g.KernelH * g.KernelW != w.Source.Cols)
            throw new ArgumentException($"conv input must be CHWN [C x H x W x B] with C*kh*kw = {w.Source.Cols}, got [{string.Join(", ", xChwn.shape)}]");
        var (oh, ow) = g.OutputSize(xChwn.shape[1], xChwn.shape[2]);
        return new[] { w.Source.Rows, oh, ow, xChwn.shape[3] };
    }

    /// <summary><see cref="Gemm"/> into a given output, as a launch to run (now, or into a CUDA graph) later.</summary>
    internal static KernelLaunch PrepareGemm(PackedWeight w, Tensor x, Tensor y, Tensor? bias, Tensor? residual, bool relu)
    {
        CheckGemmInput(w, x);
        long n = x.shape[1];
        CheckOutput(y, new[] { w.Source.Rows, n }, x);
        CheckResidual(residual, y);
        // Unaligned N goes through the register path as a 1 x N "image" with a 1x1 kernel.
        return Prepare(w, n % 8 == 0 ? Fetch.Gemm : Fetch.Any, x, n, y, bias, residual, relu, n, 1, 1, (int)n, 1, (int)n, ConvGeometry.Linear);
    }

    /// <summary><see cref="Conv2d"/> into a given CHWN output, as a launch to run (now, or into a CUDA graph) later.</summary>
    internal static KernelLaunch PrepareConv2d(PackedWeight w, Tensor xChwn, Tensor y, ConvGeometry g, Tensor? bias, Tensor? residual, bool relu)
    {
        var shape = ConvOutputShape(w, xChwn, g);
        CheckOutput(y, shape, xChwn);
        CheckResidual(residual, y);
        long h = xChwn.shape[1], wd = xChwn.shape[2], b = xChwn.shape[3];
        int oh = (int)shape[1], ow = (int)shape[2];
        long n = (long)oh * ow * b, ldx = h * wd * b;
        if (g.IsPointwise && n % 8 == 0)
            return Prepare(w, Fetch.Gemm, xChwn, ldx, y, bias, residual, relu, n, 1, 1, (int)n, 1, (int)n, ConvGeometry.Linear);
        return Prepare(w, b % 8 == 0 ? Fetch.Conv : Fetch.Any, xChwn, ldx, y, bias, residual, relu, n, (int)b, (int)h, (int)wd, oh, ow, g);
    }

    enum Fetch { Gemm = 0, Conv = 1, Any = 2 }

    static void CheckGemmInput(PackedWeight w, Tensor x)
    {
        if (x.dim() != 2 || x.shape[0] != w.Source.Cols)
            throw new ArgumentException($"X must be [K x N] with K = {w.Source.Cols}, got [{string.Join(", ", x.shape)}]");
    }

    static void CheckOutput(Tensor y, long[] shape, Tensor x)
    {
        if (!y.shape.SequenceEqual(shape) || y.dtype != x.dtype || !y.is_contiguous() || y.device.ToString() != x.device.ToString())
            throw new ArgumentException($"output must be a contiguous {x.dtype} [{string.Join(", ", shape)}] on {x.device}, got {y.dtype} [{string.Join(", ", y.shape)}]");
        CheckAligned(y, "output");
    }

    // The kernels read and write 8 elements (16 bytes) at a time from the tensor's first element on.
    static void CheckAligned(Tensor t, string what)
    {
        if (t.storage_offset() % 8 != 0)
            throw new ArgumentException($"the {what} must start 16-byte aligned (a storage offset that is a multiple of 8 elements), got offset {t.storage_offset()}; pass a .clone() of the view");
    }

    static void CheckResidual(Tensor? residual, Tensor y)
    {
        if (residual is null) return;
        if (!residual.shape.SequenceEqual(y.shape) || residual.dtype != y.dtype || !residual.is_contiguous() || residual.device.ToString() != y.device.ToString())
            throw new ArgumentException($"residual must be a contiguous {y.dtype} [{string.Join(", ", y.shape)}] on {y.device} (the output's layout), got {residual.dtype} [{string.Join(", ", residual.shape)}]");
        CheckAligned(residual, "residual");
    }

    static KernelLaunch Prepare(PackedWeight w, Fetch fetch, Tensor x, long ldx, Tensor y, Tensor? bias, Tensor? residual, bool relu, long n,
        int batch, int h, int wd, int oh, int ow, ConvGeometry g)
    {
        if (x.device.type != DeviceType.CUDA) throw new ArgumentException("the GPU kernels need CUDA tensors; use SparseReference on the CPU");
        if (x.dtype != w.Values.dtype)
            throw new ArgumentException($"input dtype {x.dtype} differs from the packed weight's {w.Values.dtype}");
        if (w.Values.device.ToString() != x.device.ToString()) throw new ArgumentException($"weight on {w.Values.device}, input on {x.device}");
        if (n > int.MaxValue) throw new ArgumentException($"N = {n} columns is more than the kernel's int32 range; split the batch");
        int device = x.device.index < 0 ? 0 : x.device.index;
        CudaDriver.UseDevice(device);
        bool bf16 = x.dtype == ScalarType.BFloat16;
        // The modules' biases are fp32 on the device already (PackedWeights); only another bias is converted, and kept
        // alive (and freed) by the launch.
        bool convert = bias is not null && (bias.dtype != ScalarType.Float32 || bias.device.ToString() != x.device.ToString() || !bias.is_contiguous());
        Tensor? b32 = convert ? bias!.to(ScalarType.Float32).to(x.device).contiguous().DetachFromDisposeScope() : bias;
        IntPtr Ptr(Tensor? t, string what) => t is null ? IntPtr.Zero : TensorPointer.Of(t, what);

        string file, kernel; int threads, shared; (uint, uint, uint) grid;
        IReadOnlyList<string> defines; string suffix = "";
        Tensor indices = w.Indices;
        int splits = 1;
        if (w.Path == KernelPath.Wgmma)
        {
            var cfg = Sm90Config.For(w.Source.TileRows, w.KBlocks);
            // The conv row table saves the producer two divisions per gathered row; offsets must fit int32.
            bool table = fetch == Fetch.Conv && x.numel() < int.MaxValue;
            if (table) indices = w.RowTable(batch, h, wd, g);
            file = "gather_gemm_sm90.cu"; kernel = "gather_gemm_sm90"; suffix = "a";
            defines = cfg.Defines(bf16, (int)fetch, w.Balanced, table, residual is not null);
            threads = cfg.Threads; shared = cfg.SharedBytes;
            uint gy = (uint)((n + cfg.ColumnsPerBlock - 1) / cfg.ColumnsPerBlock), gx = (uint)((w.Source.Rows + cfg.Tr - 1) / cfg.Tr);
            if (SplitK.Enabled) splits = SplitK.Splits((long)gx * gy, w.KBlocks, CudaDriver.MultiprocessorCount(device), gy);
            grid = splits > 1 ? (gx, gy, (uint)splits) : (gx, Math.Min(gy, 65535u), (gy + 65534) / 65535);
        }
        else
        {
            var cfg = KernelConfig.For(w.Source.TileRows, w.KSteps, residual is not null);
            file = "gather_gemm.cu";
            kernel = (w.Balanced ? "bcbp_" : "block_") + fetch switch { Fetch.Gemm => "gemm", Fetch.Conv => "conv", _ => "conv_any" };
            defines = cfg.Defines(bf16, residual is not null);
            threads = cfg.Threads; shared = cfg.SharedBytes;
            uint gy = (uint)((n + cfg.Bn - 1) / cfg.Bn);
            grid = ((uint)((w.Source.Rows + cfg.Bm - 1) / cfg.Bm), Math.Min(gy, 65535u), (gy + 65534) / 65535);
        }
        var f = KernelCache.Function(file, kernel, defines, device, suffix);
        // Both kernels take the same parameter list (gather_gemm.cu and gather_gemm_sm90.cu, ENTRY), the Hopper one two
        // more at its end (split K), which the mma.sync kernel does not read (a launch reads as many as its kernel takes).
        var partials = splits > 1 ? empty((long)splits * w.Source.Rows * n, dtype: ScalarType.Float32, device: x.device).DetachFromDisposeScope() : null;
        var args = new KernelArgs(29);
        args.Ptr(TensorPointer.Of(w.Values, "weight values")).Ptr(TensorPointer.Of(indices, "indices"))
            .Ptr(TensorPointer.Of(w.ColPtr, "tile offsets")).I32(w.KeptPadded)
            .Ptr(TensorPointer.Of(x, "input")).I64(ldx)
            .Ptr(TensorPointer.Of(y, "output")).I64(n)
            .Ptr(Ptr(b32, "bias")).Ptr(Ptr(residual, "residual")).I32(relu ? 1 : 0)
            .I32((int)w.Source.Rows).I32((int)n).I32(w.Source.TileRows)
            .I32(batch).I32(h).I32(wd).I32(oh).I32(ow).I32(g.KernelH).I32(g.KernelW)
            .I32(g.StrideH).I32(g.StrideW).I32(g.PadH).I32(g.PadW).I32(g.DilationH).I32(g.DilationW)
            .Ptr(partials is null ? IntPtr.Zero : TensorPointer.Of(partials, "split-K partials")).I32(splits);
        var launch = new KernelLaunch(f, kernel, grid, threads, shared, args, convert ? b32 : null, partials);
        if (partials is null) return launch;
        try { return launch.Then(SplitK.Reduce(partials, splits, w.Source.Rows, n, b32, residual, y, relu, device)); }
        catch { launch.Dispose(); throw; }
    }
}
