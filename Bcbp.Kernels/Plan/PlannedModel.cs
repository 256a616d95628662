using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Plan;

/// <summary>
/// A converted model (<see cref="Conversion.SparseConversion.Convert"/> with BatchNorm folding and <c>dense: true</c>)
/// whose forward runs as a <see cref="ModelPlan"/>: built at the first call of each input shape (buffers allocated
/// once per batch size, the forward captured in a CUDA graph) and replayed after. Inputs the plan cannot take (CPU,
/// fp32, a structure it does not know: <see cref="FallbackReason"/>) run the model layer by layer, as before.
/// </summary>
public sealed class PlannedModel : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor> _model;
    readonly Dictionary<string, ModelPlan> _plans = new();

    /// <summary>Wraps <paramref name="model"/>; <paramref name="graph"/> false launches the plan's kernels one by one
    /// instead of replaying a CUDA graph (to measure what the graph saves).</summary>
    public PlannedModel(nn.Module<Tensor, Tensor> model, bool graph = true) : base(nameof(PlannedModel))
    {
        _model = model;
        UseGraph = graph;
        register_module("model", model);
    }

    /// <summary>Replay a CUDA graph (else launch the plan's kernels one by one).</summary>
    public bool UseGraph { get; }

    /// <summary>Why the last call ran layer by layer, or null when it ran the plan.</summary>
    public string? FallbackReason { get; private set; }

    /// <summary>The plan used for the last planned input shape, or null.</summary>
    public ModelPlan? LastPlan { get; private set; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        if (x.device.type != DeviceType.CUDA || (x.dtype != ScalarType.Float16 && x.dtype != ScalarType.BFloat16) || x.dim() != 4)
        {
            FallbackReason = "the plan takes 4-D fp16/bf16 CUDA inputs";
            return _model.call(x);
        }
        string key = $"{x.device}|{x.dtype}|{string.Join("x", x.shape)}";
        if (!_plans.TryGetValue(key, out var plan))
        {
            try { plan = ModelPlan.Build(_model, x.shape, x.dtype, x.device, UseGraph); }
            catch (NotSupportedException e)
            {
                FallbackReason = e.Message;
                return _model.call(x);
            }
            _plans[key] = plan;
        }
        FallbackReason = null;
        LastPlan = plan;
        return plan.Forward(x);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var p in _plans.Values) p.Dispose();
            _plans.Clear();
        }
        base.Dispose(disposing);
    }
}
