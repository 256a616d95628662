using Bcbp.Kernels.Interop;

namespace Bcbp.Kernels.Ops;

/// <summary>Which gather-GEMM kernel a packed weight is laid out for.</summary>
public enum KernelPath
{
    /// <summary><c>gather_gemm.cu</c>: mma.sync m16n8k16, any GPU from sm_80; tile_rows a multiple of 32.</summary>
    MmaSync,
    /// <summary><c>gather_gemm_sm90.cu</c>: Hopper wgmma (sm_90a cubin, compute capability 9.0 only); tile_rows a
    /// multiple of 8.</summary>
    Wgmma,
}

/// <summary>The choice of kernel for a layer on a device.</summary>
public static class KernelPaths
{
    /// <summary>
    /// The kernel for a layer with <paramref name="tileRows"/>-row tiles on a GPU of compute capability
    /// <paramref name="computeCapability"/> (90 = sm_90). Off Hopper only mma.sync exists. On Hopper a spatial conv
    /// (kernel larger than 1x1 or strided) and a linear layer (N = the batch, long K: split K pays there) take wgmma; a
    /// pointwise conv (1x1 stride 1) keeps mma.sync where its tile height allows, since that kernel measured faster on
    /// short-K 1x1 layers (experiments/results/bench/sm90-probe-h200.json).
    /// </summary>
    public static KernelPath Choose(int computeCapability, int tileRows, bool pointwise)
    {
        bool mma = tileRows % 32 == 0;
        if (computeCapability != 90)
            return mma ? KernelPath.MmaSync
                : throw new NotSupportedException($"the GPU kernels need tile_rows to be a multiple of 32 on compute capability {computeCapability / 10}.{computeCapability % 10}, got {tileRows}; prune with tile_rows 32, 64 or 128 (Hopper GPUs take any multiple of 8), or run on the CPU reference");
        if (tileRows % 8 != 0)
            throw new NotSupportedException($"the Hopper kernel needs tile_rows to be a multiple of 8, got {tileRows}; prune with tile_rows 8, 16, 32 or 64");
        return pointwise && mma ? KernelPath.MmaSync : KernelPath.Wgmma;
    }

    /// <summary>The compute capability of GPU <paramref name="device"/> (an ordinal) as an arch number (90 = sm_90).</summary>
    public static int ComputeCapability(int device) => CudaDriver.ComputeCapability(device);

    /// <summary><see cref="Choose(int, int, bool)"/> for the GPU <paramref name="device"/> (an ordinal).</summary>
    public static KernelPath Choose(int device, int tileRows, bool pointwise, KernelPath? forced)
        => forced ?? Choose(CudaDriver.ComputeCapability(device), tileRows, pointwise);
}
