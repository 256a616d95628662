using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Plan;

/// <summary>
/// Runs a <see cref="PlanGraph"/> with TorchSharp ops on CHWN tensors, step for step what <see cref="ModelPlan"/>'s
/// kernels do (Cuda/plan_ops.cu and the gather-GEMM), on any device: the CPU reference of the plan. On the CPU the
/// sparse layers take their CPU reference path.
/// </summary>
public static class PlanReference
{
    /// <summary>The logits [B x classes] of <paramref name="graph"/> for the NCHW batch <paramref name="x"/>.</summary>
    public static Tensor Forward(PlanGraph graph, Tensor x)
    {
        if (!x.shape.SequenceEqual(graph.Shapes[0]))
            throw new ArgumentException($"this plan was built for inputs [{string.Join(", ", graph.Shapes[0])}], got [{string.Join(", ", x.shape)}]");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var buffers = new Tensor[graph.Shapes.Count];
        buffers[0] = x;
        static Tensor Nchw(Tensor chwn) => chwn.permute(3, 0, 1, 2);
        static Tensor Chwn(Tensor nchw) => nchw.permute(1, 2, 3, 0).contiguous();
        foreach (var step in graph.Steps)
        {
            var shape = graph.Shapes[step.Output];
            buffers[step.Output] = step switch
            {
                ToChwnStep s => Pad(Chwn(buffers[s.Input]), graph.Padded),
                ConvStep s => Chwn(s.Conv.Forward(Nchw(buffers[s.Input]), s.Residual is { } r ? Nchw(buffers[r]) : null, s.Relu)),
                LinearStep s => Linear(s, buffers[s.Input], graph.Padded).view(shape),
                MaxPoolStep s => Chwn(nn.functional.max_pool2d(Nchw(buffers[s.Input]), s.Kernel, s.Stride, s.Padding, ceil_mode: s.CeilMode)),
                AvgPoolStep s => buffers[s.Input].mean(new long[] { 1, 2 }, keepdim: true),
                ShortcutAStep s => ShortcutA(buffers[s.Input], s.Stride, s.PadChannels),
                _ => throw new NotSupportedException($"no reference for {step.GetType().Name}"),
            };
        }
        return buffers[graph.Output].view(-1, graph.Padded).narrow(1, 0, graph.Batch).t().contiguous().MoveToOuterDisposeScope();
    }

    static Tensor Pad(Tensor chwn, long padded)
    {
        long b = chwn.shape[3];
        return b == padded ? chwn : nn.functional.pad(chwn, new long[] { 0, padded - b });
    }

    static Tensor Linear(LinearStep s, Tensor x, long padded)
    {
        var y = s.Linear.forward(x.reshape(-1, padded).t()).t();
        return s.Relu ? y.relu() : y;
    }

    static Tensor ShortcutA(Tensor x, int stride, int padChannels)
    {
        var sub = x.index(TensorIndex.Colon, TensorIndex.Slice(null, null, stride), TensorIndex.Slice(null, null, stride), TensorIndex.Colon);
        int lo = padChannels / 2;
        return nn.functional.pad(sub, new long[] { 0, 0, 0, 0, 0, 0, lo, padChannels - lo }).contiguous();
    }
}
