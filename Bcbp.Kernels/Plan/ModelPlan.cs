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
    readonly List<KernelLaunch> _launches = new();
    readonly Tensor[] _buffers;
    readonly PlanGraph _graph;
    readonly int _device;
    readonly IntPtr _stream, _inputReady, _outputReady;
    IntPtr _exec;
    bool _disposed;

    ModelPlan(PlanGraph graph, ScalarType dtype, Device device, bool captureGraph)
    {
        _graph = graph;
        _device = device.index < 0 ? 0 : device.index;
        // Zeroed once: the batch padding columns start (and, fed zeros, stay) finite.
        _buffers = graph.Shapes.Select(s => zeros(s, dtype: dtype, device: device).DetachFromDisposeScope()).ToArray();
        try
        {
            var defines = new[] { $"BF16={(dtype == ScalarType.BFloat16 ? 1 : 0)}" };
            foreach (var step in graph.Steps) _launches.Add(Prepare(step, dtype, device, defines));
            _stream = CudaDriver.CreateStream();
            _inputReady = CudaDriver.CreateEvent();
            _outputReady = CudaDriver.CreateEvent();
            // One eager pass first: it loads every module (CUDA's lazy loading would otherwise happen inside the
            // capture, which older drivers refuse) and fails here, with the kernel's name, rather than in a graph.
            CudaDriver.Order(CudaDriver.LegacyStream, _stream, _inputReady);
            foreach (var l in _launches) l.Run(_stream);
            CudaDriver.Synchronize(_stream);
            if (captureGraph) Capture();
        }
        catch
        {
            Dispose();
            throw;
        }
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
        var steps = PlanBuilder.Build(model, inputShape);
        CudaDriver.UseDevice(device.index < 0 ? 0 : device.index);
        return new ModelPlan(steps, dtype, device, graph);
    }

    /// <summary>The steps this plan runs.</summary>
    public PlanGraph Graph => _graph;

    /// <summary>True when the forward replays a captured CUDA graph (false: the launches run one by one).</summary>
    public bool Graphed => _exec != IntPtr.Zero;

    /// <summary>Kernel launches per forward.</summary>
    public int Launches => _launches.Count;

    /// <summary>Why capture failed, or null.</summary>
    public string? CaptureError { get; private set; }

    /// <summary>The logits [B x classes] for <paramref name="x"/> (the plan's input shape; any dtype, copied in), as
    /// a new tensor on TorchSharp's stream.</summary>
    public Tensor Forward(Tensor x)
    {
        if (!x.shape.SequenceEqual(_graph.Shapes[0]))
            throw new ArgumentException($"this plan was built for inputs [{string.Join(", ", _graph.Shapes[0])}], got [{string.Join(", ", x.shape)}]");
        CudaDriver.UseDevice(_device);
        using var _ = no_grad();
        _buffers[0].copy_(x);
        CudaDriver.Order(CudaDriver.LegacyStream, _stream, _inputReady);
        if (Graphed) CudaDriver.LaunchGraph(_exec, _stream);
        else foreach (var l in _launches) l.Run(_stream);
        CudaDriver.Order(_stream, CudaDriver.LegacyStream, _outputReady);
        // A copy in every case (contiguous() would alias the buffer for one class), so the next call cannot overwrite it.
        var logits = _buffers[_graph.Output].view(-1, _graph.Padded).narrow(1, 0, _graph.Batch).t();
        return logits.is_contiguous() ? logits.clone() : logits.contiguous();
    }

    /// <summary>Where the forward's time goes: each launch run one by one on the plan's stream between timing events,
    /// <paramref name="iters"/> times after one untimed pass, the median per launch (ms) with the step's description
    /// (<see cref="PlanStepTime"/>). Graph replay also removes the gaps between launches, so the sum is an upper bound
    /// of a replay's time. Runs on the current buffers (the last input).</summary>
    public IReadOnlyList<PlanStepTime> ProfileSteps(int iters = 20)
    {
        if (iters < 1) throw new ArgumentException($"iters must be >= 1, got {iters}");
        CudaDriver.UseDevice(_device);
        int n = _launches.Count;
        var events = new IntPtr[n + 1];
        try
        {
            for (int i = 0; i <= n; i++) events[i] = CudaDriver.CreateTimingEvent();
            var ms = new double[n][];
            for (int i = 0; i < n; i++) ms[i] = new double[iters];
            for (int it = -1; it < iters; it++)
            {
                for (int i = 0; i < n; i++)
                {
                    CudaDriver.RecordEvent(events[i], _stream);
                    _launches[i].Run(_stream);
                }
                CudaDriver.RecordEvent(events[n], _stream);
                CudaDriver.SynchronizeEvent(events[n]);
                if (it < 0) continue;   // the untimed pass
                for (int i = 0; i < n; i++) ms[i][it] = CudaDriver.ElapsedMs(events[i], events[i + 1]);
            }
            return Enumerable.Range(0, n).Select(i =>
            {
                var sorted = ms[i].Order().ToArray();
                return new PlanStepTime(i, Describe(_graph.Steps[i]), _launches[i].Name, sorted[sorted.Length / 2], _launches[i].Resources());
            }).ToArray();
        }
        finally
        {
            foreach (var e in events) if (e != IntPtr.Zero) CudaDriver.DestroyEvent(e);
        }
    }

    /// <summary>A step as a profile names it: what it computes and the shape it writes.</summary>
    string Describe(PlanStep step)
    {
        string shape = string.Join("x", _graph.Shapes[step.Output]);
        return step switch
        {
            ConvStep s => $"conv {s.Conv.InChannels}->{s.Conv.OutChannels} {s.Conv.Geometry.KernelH}x{s.Conv.Geometry.KernelW}/{s.Conv.Geometry.StrideH}" +
                          $" ({s.Conv.Weight.Sparsity:P0} sparse{(s.Residual is null ? "" : ", +residual")}{(s.Relu ? ", relu" : "")}) -> {shape}",
            LinearStep s => $"linear {s.Linear.Weight.Cols}->{s.Linear.Weight.Rows} ({s.Linear.Weight.Sparsity:P0} sparse{(s.Relu ? ", relu" : "")}) -> {shape}",
            _ => $"{step.GetType().Name.Replace("Step", "")} -> {shape}",
        };
    }

    KernelLaunch Prepare(PlanStep step, ScalarType dtype, Device device, string[] defines)
    {
        Tensor B(int i) => _buffers[i];
        int padded = (int)_graph.Padded;
        switch (step)
        {
            case ConvStep s:
            {
                var (packed, bias) = s.Conv.PackedFor(device, dtype);
                return GatherGemm.PrepareConv2d(packed, B(s.Input), B(s.Output), s.Conv.Geometry, bias, s.Residual is { } r ? B(r) : null, s.Relu);
            }
            case LinearStep s:
            {
                var (packed, bias) = s.Linear.PackedFor(device, dtype);
                // CHWN [C x H x W x Bp] is the flattened [C*H*W x Bp] as it is.
                return GatherGemm.PrepareGemm(packed, B(s.Input).view(-1, padded), B(s.Output).view(-1, padded), bias, null, s.Relu);
            }
            default:
            {
                var op = PlanOps.Describe(step, _graph);
                var args = new KernelArgs(op.Args.Count);
                foreach (var a in op.Args)
                    _ = a switch
                    {
                        BufferArg b => args.Ptr(Ptr(B(b.Index))),
                        IntArg i => args.I32(i.Value),
                        LongArg l => args.I64(l.Value),
                        _ => throw new InvalidOperationException($"unknown kernel argument {a}"),
                    };
                return new KernelLaunch(KernelCache.Function("plan_ops.cu", op.Kernel, defines, _device), op.Kernel, op.Grid, op.Threads, 0, args);
            }
        }
    }

    static IntPtr Ptr(Tensor t) => TensorPointer.Of(t, "plan buffer");

    void Capture()
    {
        CudaDriver.BeginCapture(_stream);
        try
        {
            foreach (var l in _launches) l.Run(_stream);
        }
        catch (Exception e)
        {
            try { CudaDriver.EndCapture(_stream); } catch (CudaException) { /* the capture is invalid anyway */ }
            if (e is not CudaException) throw;
            CaptureError = e.Message;
            return;
        }
        try { _exec = CudaDriver.EndCapture(_stream); }
        catch (CudaException e) { CaptureError = e.Message; }
    }

    /// <summary>Frees the graph, the stream, the events, the launches and the buffers (each even if another fails;
    /// a second call does nothing).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        var errors = new List<Exception>();
        void Try(Action a) { try { a(); } catch (Exception e) { errors.Add(e); } }
        Try(() => CudaDriver.UseDevice(_device));
        if (_stream != IntPtr.Zero) Try(() => CudaDriver.Synchronize(_stream));
        if (_exec != IntPtr.Zero) Try(() => CudaDriver.DestroyGraph(_exec));
        if (_inputReady != IntPtr.Zero) Try(() => CudaDriver.DestroyEvent(_inputReady));
        if (_outputReady != IntPtr.Zero) Try(() => CudaDriver.DestroyEvent(_outputReady));
        if (_stream != IntPtr.Zero) Try(() => CudaDriver.DestroyStream(_stream));
        _exec = IntPtr.Zero;
        foreach (var l in _launches) Try(l.Dispose);
        foreach (var t in _buffers) Try(t.Dispose);
        if (errors.Count > 0) throw new AggregateException("freeing the whole-model plan failed", errors);
    }
}
