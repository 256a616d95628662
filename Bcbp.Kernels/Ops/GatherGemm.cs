using Bcbp.Kernels.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Ops;

/// <summary>
/// The gather-GEMM CUDA kernels (Cuda/gather_gemm.cu) on TorchSharp tensors: Y = W_sparse * X with the kept rows of
/// X gathered inside the kernel. Launched on the legacy default stream, after the work PyTorch queued there.
/// </summary>
public static class GatherGemm
{
    const string Source = "gather_gemm.cu";

    /// <summary>Y [M x N] = W * X for X [K x N] (fp16/bf16, CUDA, contiguous), plus a per-row fp32 bias.</summary>
    public static Tensor Gemm(PackedWeight w, Tensor x, Tensor? bias = null)
    {
        if (x.dim() != 2 || x.shape[0] != w.Source.Cols)
            throw new ArgumentException($"X must be [K x N] with K = {w.Source.Cols}, got [{string.Join(", ", x.shape)}]");
        long n = x.shape[1];
        bool aligned = n % 8 == 0;
        var y = empty(w.Source.Rows, n, dtype: x.dtype, device: x.device);
        // Unaligned N goes through the register path as a 1 x N "image" with a 1x1 kernel.
        Launch(w, aligned ? "gemm" : "conv_any", x, n, y, bias, n, 1, 1, (int)n, 1, (int)n, ConvGeometry.Linear);
        return y;
    }

    /// <summary>
    /// Implicit-GEMM convolution: x is [C x H x W x B] (CHWN, contiguous), the result is [M x OH x OW x B] (CHWN).
    /// Batches that are a multiple of 8 use 16-byte cp.async gathers; others use the register path.
    /// </summary>
    public static Tensor Conv2d(PackedWeight w, Tensor xChwn, ConvGeometry g, Tensor? bias = null)
    {
        if (xChwn.dim() != 4 || xChwn.shape[0] * g.KernelH * g.KernelW != w.Source.Cols)
            throw new ArgumentException($"conv input must be CHWN [C x H x W x B] with C*kh*kw = {w.Source.Cols}, got [{string.Join(", ", xChwn.shape)}]");
        long c = xChwn.shape[0], h = xChwn.shape[1], wd = xChwn.shape[2], b = xChwn.shape[3];
        var (oh, ow) = g.OutputSize(h, wd);
        long n = (long)oh * ow * b;
        var y = empty(w.Source.Rows, oh, ow, b, dtype: xChwn.dtype, device: xChwn.device);
        long ldx = h * wd * b;
        if (g.IsPointwise && n % 8 == 0)
            Launch(w, "gemm", xChwn, ldx, y, bias, n, 1, 1, (int)n, 1, (int)n, ConvGeometry.Linear);
        else
            Launch(w, b % 8 == 0 ? "conv" : "conv_any", xChwn, ldx, y, bias, n, (int)b, (int)h, (int)wd, oh, ow, g);
        return y;
    }

    static void Launch(PackedWeight w, string fetch, Tensor x, long ldx, Tensor y, Tensor? bias, long n,
        int batch, int h, int wd, int oh, int ow, ConvGeometry g)
    {
        if (x.device.type != DeviceType.CUDA) throw new ArgumentException("the GPU kernels need CUDA tensors; use SparseReference on the CPU");
        if (x.dtype != w.Values.dtype)
            throw new ArgumentException($"input dtype {x.dtype} differs from the packed weight's {w.Values.dtype}");
        if (w.Values.device.ToString() != x.device.ToString()) throw new ArgumentException($"weight on {w.Values.device}, input on {x.device}");
        if (n > int.MaxValue) throw new ArgumentException($"N = {n} columns is more than the kernel's int32 range; split the batch");
        var cfg = KernelConfig.For(w.Source.TileRows);
        string kernel = (w.Balanced ? "bcbp_" : "block_") + fetch;
        int device = x.device.index < 0 ? 0 : x.device.index;
        CudaDriver.UseDevice(device);
        var f = KernelCache.Function(Source, kernel, cfg.Defines(x.dtype == ScalarType.BFloat16), device);
        CudaDriver.SetMaxDynamicSharedMemory(f, cfg.SharedBytes, kernel);
        Tensor? b32 = bias?.to(ScalarType.Float32).to(x.device).contiguous();
        using var args = new KernelArgs(25);
        args.Ptr(TensorPointer.Of(w.Values, "weight values")).Ptr(TensorPointer.Of(w.Indices, "indices"))
            .Ptr(TensorPointer.Of(w.ColPtr, "tile offsets")).I32(w.KeptPadded)
            .Ptr(TensorPointer.Of(x, "input")).I64(ldx)
            .Ptr(TensorPointer.Of(y, "output")).I64(n)
            .Ptr(b32 is null ? IntPtr.Zero : TensorPointer.Of(b32, "bias"))
            .I32((int)w.Source.Rows).I32((int)n).I32(w.Source.TileRows)
            .I32(batch).I32(h).I32(wd).I32(oh).I32(ow).I32(g.KernelH).I32(g.KernelW)
            .I32(g.StrideH).I32(g.StrideW).I32(g.PadH).I32(g.PadW).I32(g.DilationH).I32(g.DilationW);
        uint gx = (uint)((w.Source.Rows + cfg.Bm - 1) / cfg.Bm), gy = (uint)((n + cfg.Bn - 1) / cfg.Bn);
        uint gz = (gy + 65534) / 65535;  // grid.y is limited to 65535; the kernel continues the column blocks in z
        CudaDriver.Launch(f, (gx, Math.Min(gy, 65535u), gz), (uint)cfg.Threads, (uint)cfg.SharedBytes, args.Pointers, kernel);
        GC.KeepAlive(b32);
    }
}
