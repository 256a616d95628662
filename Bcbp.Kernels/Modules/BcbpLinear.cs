using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Modules;

/// <summary>Inference Linear with a tiled sparse weight [out x in]: y = x W^T + b through the gather-GEMM kernel on
/// CUDA fp16/bf16 inputs, the CPU reference elsewhere.</summary>
public sealed class BcbpLinear : nn.Module<Tensor, Tensor>
{
    readonly PackedWeights _packed;

    /// <summary>Creates the module from a packed weight and an optional bias [out].</summary>
    public BcbpLinear(TiledSparseMatrix weight, Tensor? bias = null) : base(nameof(BcbpLinear))
    {
        // The module owns its weight, like a Parameter: it outlives any dispose scope open at conversion.
        Weight = weight.DetachFromDisposeScope();
        // Not "pointwise" for the kernel choice: a linear layer's N is the batch, so on Hopper it takes the wgmma kernel,
        // whose split K spreads its long K loop (the classifier) over the GPU.
        _packed = new PackedWeights(Weight, bias, pointwise: false);
    }

    /// <summary>The sparse weight [out x in].</summary>
    public TiledSparseMatrix Weight { get; }
    /// <summary>Bias (fp32, on the host; not a buffer, so <c>to(float16)</c> keeps its precision) or null.</summary>
    public Tensor? Bias => _packed.Bias;
    /// <summary>The GPU kernel to use; null = <see cref="KernelPaths.Choose(int, int, bool)"/> for the device.</summary>
    public KernelPath? Path { get; init; }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _packed.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>The weight packed for the kernel of <paramref name="device"/> in <paramref name="dtype"/>, and the bias
    /// there; made once per device and dtype.</summary>
    internal (PackedWeight Weight, Tensor? Bias) PackedFor(Device device, ScalarType dtype) => _packed.For(device, dtype, Path);

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        if (x.shape[^1] != Weight.Cols)
            throw new ArgumentException($"BcbpLinear expects [..., {Weight.Cols}], got [{string.Join(", ", x.shape)}]");
        var lead = x.shape[..^1];
        var xt = x.reshape(-1, Weight.Cols).t().contiguous();      // [K x N]: the kernel gathers rows of X
        Tensor y;
        if (x.device.type == DeviceType.CUDA && (x.dtype == ScalarType.Float16 || x.dtype == ScalarType.BFloat16))
        {
            var p = PackedFor(x.device, x.dtype);
            y = GatherGemm.Gemm(p.Weight, xt, p.Bias);
        }
        else y = SparseReference.Gemm(Weight, xt, Bias);
        return y.t().reshape(lead.Append(Weight.Rows).ToArray());
    }
}
