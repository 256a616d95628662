using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Modules;

/// <summary>
/// Inference Conv2d with a tiled sparse weight (BCBP or block). On CUDA with fp16/bf16 input it runs our implicit-GEMM
/// kernel and returns an NCHW-shaped view whose memory is CHWN (batch innermost), so the next sparse layer reads it
/// without a transpose; elementwise ops (ReLU, residual add) keep that layout. <see cref="Forward"/> fuses a residual
/// add and a ReLU into the kernel's epilogue (a converted ResNet block uses it). Elsewhere it runs the CPU reference.
/// </summary>
public sealed class BcbpConv2d : nn.Module<Tensor, Tensor>
{
    readonly PackedWeights _packed;

    /// <summary>Creates the module from a packed weight, the conv geometry and an optional bias [out].</summary>
    public BcbpConv2d(TiledSparseMatrix weight, long inChannels, ConvGeometry geometry, Tensor? bias = null) : base(nameof(BcbpConv2d))
    {
        if (weight.Cols != inChannels * geometry.KernelH * geometry.KernelW)
            throw new ArgumentException($"weight has {weight.Cols} columns but in_channels * kh * kw = {inChannels * geometry.KernelH * geometry.KernelW}");
        // The module owns its weight, like a Parameter: it outlives any dispose scope open at conversion.
        Weight = weight.DetachFromDisposeScope(); InChannels = inChannels; Geometry = geometry;
        _packed = new PackedWeights(Weight, bias, geometry.IsPointwise);
    }

    /// <summary>The sparse weight [out x in*kh*kw].</summary>
    public TiledSparseMatrix Weight { get; }
    /// <summary>Input channels.</summary>
    public long InChannels { get; }
    /// <summary>Output channels.</summary>
    public long OutChannels => Weight.Rows;
    /// <summary>Kernel, stride, padding, dilation.</summary>
    public ConvGeometry Geometry { get; }
    /// <summary>Bias (fp32, on the host; not a buffer, so <c>to(float16)</c> keeps its precision) or null.</summary>
    public Tensor? Bias => _packed.Bias;
    /// <summary>Run the block (per-tile offsets) kernel even for a BCBP weight (to measure its cost).</summary>
    public bool ForceBlockKernel { get; init; }
    /// <summary>The GPU kernel to use; null = <see cref="KernelPaths.Choose(int, int, bool)"/> for the device.</summary>
    public KernelPath? Path { get; init; }
    /// <summary>Apply ReLU to the output (a following ReLU fused into the epilogue).</summary>
    public bool FusedRelu { get; set; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x) => Forward(x, null, FusedRelu);

    /// <summary>act(conv(x) + bias + residual), act = ReLU if <paramref name="relu"/>; <paramref name="residual"/> has
    /// the output's shape [B x out x OH x OW] (any strides; CHWN memory, as our outputs have, is read as it is).</summary>
    public Tensor Forward(Tensor x, Tensor? residual, bool relu)
    {
        if (x.dim() != 4 || x.shape[1] != InChannels)
            throw new ArgumentException($"BcbpConv2d expects [B x {InChannels} x H x W], got [{string.Join(", ", x.shape)}]");
        if (x.device.type != DeviceType.CUDA || (x.dtype != ScalarType.Float16 && x.dtype != ScalarType.BFloat16))
        {
            var y = SparseReference.Conv2d(Weight, x, Geometry, Bias);
            if (residual is not null) y = y + residual;
            return relu ? y.relu() : y;
        }
        var (packed, bias) = PackedFor(x.device, x.dtype);
        var chwn = Chwn(x);
        return GatherGemm.Conv2d(packed, chwn, Geometry, bias, residual is null ? null : Chwn(residual), relu).permute(3, 0, 1, 2);
    }

    static Tensor Chwn(Tensor nchw)
    {
        var chwn = nchw.permute(1, 2, 3, 0);
        return chwn.is_contiguous() ? chwn : chwn.contiguous();
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _packed.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>The weight packed for the kernel of <paramref name="device"/> in <paramref name="dtype"/>, and the bias
    /// there; made once per device and dtype.</summary>
    internal (PackedWeight Weight, Tensor? Bias) PackedFor(Device device, ScalarType dtype) => _packed.For(device, dtype, Path, ForceBlockKernel);
}
