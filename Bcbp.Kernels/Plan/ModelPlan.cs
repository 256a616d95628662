using Bcbp.Kernels.Interop;
using Bcbp.Kernels.Modules;
using Bcbp.Kernels.Ops;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Plan;

/// <summary>
/// A converted model's whole forward for one input shape, as a fixed list of our kernels on a stream of our own:
/// the input transposed once into CHWN memory (Cuda/plan_ops.cu; the batch padded to a multiple of 8), every conv
/// and linear layer (the dense stem and classifier included: convert with <c>dense: true</c>) through the
/// gather-GEMM with its bias, residual and ReLU in the epilogue, pooling and option-A shortcuts by small CHWN
/// kernels, and the buffers allocated once. The list is captured into a CUDA graph (driver API) and replayed per
/// call; where capture fails it is launched as it is. Events hand the input over from TorchSharp's legacy stream and
/// the output back. Knows the model forwards of TorchVision's ResNet and VGG, the CIFAR ResNet and our VGG, as
/// <see cref="PlanBuilder"/> reads them; anything else is refused (<see cref="NotSupportedException"/>) and runs
/// layer by layer.
/// </summary>
public sealed class ModelPlan : IDisposable
{
    readonly List<KernelLaunch> _launches;
    readonly List<Tensor> _buffers;
    readonly Tensor _input;
    readonly Tensor _output;
    readonly long _batch;
    readonly int _device;
    readonly IntPtr _stream, _inputReady, _outputReady;
    IntPtr _graph;

    ModelPlan(PlanBuilder b, long batch, int device, bool graph)
    {
        _launches = b.Launches; _buffers = b.Buffers; _input = b.Input; _output = b.Output; _batch = batch; _device = device;
        _stream = CudaDriver.CreateStream();
        _inputReady = CudaDriver.CreateEvent();
        _outputReady = CudaDriver.CreateEvent();
        if (graph) Capture();
    }

    /// <summary>Builds the plan of <paramref name="model"/> (converted with BN folding, fused epilogues and dense
    /// layers) for inputs of <paramref name="inputShape"/> [B x C x H x W] in <paramref name="dtype"/> (fp16/bf16) on
    /// the CUDA device <paramref name="device"/>; <paramref name="graph"/> captures it into a CUDA graph.
    /// Throws <see cref="NotSupportedException"/> naming the module it cannot plan.</summary>
    public static ModelPlan Build(nn.Module model, long[] inputShape, ScalarType dtype, Device device, bool graph = true)
    {
        if (device.type != DeviceType.CUDA) throw new NotSupportedException("the whole-model plan runs on CUDA devices only");
        if (dtype != ScalarType.Float16 && dtype != ScalarType.BFloat16)
            throw new NotSupportedException($"the whole-model plan runs fp16 or bf16 models, got {dtype}");
        if (inputShape.Length != 4) throw new ArgumentException($"the plan takes NCHW inputs, got [{string.Join(", ", inputShape)}]");
        int ordinal = device.index < 0 ? 0 : device.index;
        CudaDriver.UseDevice(ordinal);
        using var scope = NewDisposeScope();
        var builder = new PlanBuilder(inputShape, dtype, device);
        try
        {
            builder.Walk(model);
            foreach (var t in builder.Buffers) t.DetachFromDisposeScope();
            return new ModelPlan(builder, inputShape[0], ordinal, graph);
        }
        catch
        {
            builder.Dispose();
            throw;
        }
    }

    /// <summary>True when the forward replays a captured CUDA graph (false: the launches run one by one).</summary>
    public bool Graphed => _graph != IntPtr.Zero;

    /// <summary>Kernel launches per forward.</summary>
    public int Launches => _launches.Count;

    /// <summary>Why capture failed, or null.</summary>
    public string? CaptureError { get; private set; }

    /// <summary>The logits [B x classes] for <paramref name="x"/> (the plan's input shape; any dtype, copied in), as
    /// a new tensor on TorchSharp's stream.</summary>
    public Tensor Forward(Tensor x)
    {
        if (!x.shape.SequenceEqual(_input.shape))
            throw new ArgumentException($"this plan was built for inputs [{string.Join(", ", _input.shape)}], got [{string.Join(", ", x.shape)}]");
        CudaDriver.UseDevice(_device);
        using (no_grad()) _input.copy_(x);
        CudaDriver.Order(CudaDriver.LegacyStream, _stream, _inputReady);
        if (Graphed) CudaDriver.LaunchGraph(_graph, _stream);
        else foreach (var l in _launches) l.Run(_stream);
        CudaDriver.Order(_stream, CudaDriver.LegacyStream, _outputReady);
        using (no_grad()) return _output.narrow(1, 0, _batch).t().contiguous();
    }

    void Capture()
    {
        CudaDriver.BeginCapture(_stream);
        try
        {
            foreach (var l in _launches) l.Run(_stream);
        }
        catch (CudaException e)
        {
            CaptureError = e.Message;
            try { CudaDriver.EndCapture(_stream); } catch (CudaException) { }
            return;
        }
        try { _graph = CudaDriver.EndCapture(_stream); }
        catch (CudaException e) { CaptureError = e.Message; }
    }

    /// <summary>Frees the graph, the stream, the events, the launches and the buffers.</summary>
    public void Dispose()
    {
        CudaDriver.Synchronize(_stream);
        if (_graph != IntPtr.Zero) CudaDriver.DestroyGraph(_graph);
        _graph = IntPtr.Zero;
        CudaDriver.DestroyEvent(_inputReady);
        CudaDriver.DestroyEvent(_outputReady);
        CudaDriver.DestroyStream(_stream);
        foreach (var l in _launches) l.Dispose();
        foreach (var t in _buffers) t.Dispose();
    }
}
