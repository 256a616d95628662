using Bcbp.Training.Backend;
using Bcbp.Training.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>
/// What the forward pass computes in (<c>train.amp</c>, <c>train.channels_last</c>), built in because TorchSharp 0.107
/// has no autocast. The fp32 master weights stay the module parameters, in <see cref="FlatParameters.Flat"/> (hooks,
/// checkpoints and state dicts see them unchanged). For a forward pass, <see cref="UseComputeWeights"/> casts the
/// whole master buffer into a bfloat16/float16 buffer of the same layout (one kernel) and points every Conv2d and
/// Linear parameter at its slice of it; disposing points them back at their master slices. BatchNorm parameters stay
/// fp32 masters, as under PyTorch's autocast (libtorch sends a bf16 input to its own channels-last capable kernels, an
/// fp16 one to cuDNN's; both take fp32 weight and running statistics and compute the statistics in fp32). The logits are cast to fp32 for the loss and softmax (<see cref="Logits"/>).
/// <para>
/// The repointing uses libtorch's <c>set_data</c> (<see cref="NativeTorch.SetData"/>), not <c>set_</c> as
/// <see cref="FlatParameters"/> does: <c>set_</c> keeps the parameter's dtype and rejects a bfloat16 storage. The
/// alternative, casting each weight at the layer boundary, needs a wrapper per module and one cast kernel per
/// parameter per step (170 for a ResNet-56) where this needs one.
/// </para>
/// A masked weight is zero in the master (the pruning hook re-masks it after every step and mask update) and so in
/// the cast copy; the hook's gradient masking runs on the compute-type gradients before they are gathered.
/// </summary>
public sealed class MixedPrecision : IDisposable
{
    readonly (Parameter Param, Tensor Master, Tensor Compute)[] _swapped;
    readonly FlatParameters _flat;
    readonly Tensor? _compute;

    /// <summary>off, bf16 or fp16.</summary>
    public AmpMode Mode { get; }
    /// <summary>The input batch is made NHWC-strided before the forward pass.</summary>
    public bool ChannelsLast { get; }
    /// <summary>The type conv and linear layers compute in.</summary>
    public ScalarType ComputeType { get; }

    public MixedPrecision(nn.Module model, FlatParameters flat, AmpMode mode, bool channelsLast)
    {
        _flat = flat;
        Mode = mode;
        ChannelsLast = channelsLast;
        ComputeType = mode switch { AmpMode.Bf16 => ScalarType.BFloat16, AmpMode.Fp16 => ScalarType.Float16, _ => flat.Flat.dtype };
        _swapped = Array.Empty<(Parameter, Tensor, Tensor)>();
        if (mode == AmpMode.Off) return;
        if (flat.Flat.dtype != ScalarType.Float32)
            throw new NotSupportedException($"train.amp needs float32 master weights, the model's are {flat.Flat.dtype}.");

        _compute = empty(flat.Flat.numel(), dtype: ComputeType, device: flat.Flat.device).DetachFromDisposeScope();
        var swapped = new List<(Parameter, Tensor, Tensor)>();
        foreach (var (name, p) in ComputeTypedParameters(model))
        {
            int i = flat.IndexOf(p);
            if (i < 0)
                throw new NotSupportedException($"train.amp: {name} is not trained (frozen), so it has no compute copy; " +
                                                "train it, or set train.amp: off.");
            var master = flat.ViewOf(flat.Flat.detach(), i).DetachFromDisposeScope();
            swapped.Add((p, master, flat.ViewOf(_compute, i).DetachFromDisposeScope()));
        }
        _swapped = swapped.ToArray();
    }

    /// <summary>The parameters a mixed-precision step computes in the half type: those of every Conv2d and Linear.</summary>
    public static IReadOnlySet<Parameter> ComputeTyped(nn.Module model)
        => new HashSet<Parameter>(ComputeTypedParameters(model).Select(n => n.Parameter), ReferenceEqualityComparer.Instance);

    /// <summary>The one rule of which parameters compute in the half type, with their dotted names.</summary>
    static IEnumerable<(string Name, Parameter Parameter)> ComputeTypedParameters(nn.Module model)
        => from m in model.named_modules()
           where m.module is Conv2d or Linear
           from p in m.module.named_parameters(recurse: false)
           select ($"{m.name}.{p.name}", p.parameter);

    /// <summary>Frees the compute copy and the views into it and into the masters (the parameters keep pointing at
    /// their masters).</summary>
    public void Dispose()
    {
        foreach (var (_, master, compute) in _swapped) { master.Dispose(); compute.Dispose(); }
        _compute?.Dispose();
    }

    /// <summary>Whether conv and linear layers run in a half type.</summary>
    public bool Enabled => Mode != AmpMode.Off;

    /// <summary>Casts the masters into the compute buffer and points the conv/linear parameters at it, until the
    /// returned scope is disposed (then they are the fp32 masters again). A no-op when <see cref="Enabled"/> is false.</summary>
    public IDisposable UseComputeWeights()
    {
        if (!Enabled) return NoScope.Instance;
        using (no_grad())
        {
            _compute!.copy_(_flat.Flat);
            foreach (var (p, _, compute) in _swapped) NativeTorch.SetData(p, compute);
        }
        return new MasterScope(this);
    }

    void UseMasters()
    {
        using var _ = no_grad();
        foreach (var (p, master, _) in _swapped) NativeTorch.SetData(p, master);
    }

    /// <summary>The batch as the forward pass takes it: cast to the compute type (floating inputs only) and, with
    /// channels_last, NHWC-strided (<c>permute(0,2,3,1).contiguous().permute(0,3,1,2)</c>: TorchSharp has no
    /// memory_format argument, and strides are what cuDNN reads).</summary>
    public Tensor Input(Tensor x)
    {
        if (Enabled && x.is_floating_point() && x.dtype != ComputeType) x = x.to_type(ComputeType);
        if (ChannelsLast && x.dim() == 4) x = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        return x;
    }

    /// <summary>The logits in float32, for the loss and softmax.</summary>
    public static Tensor Logits(Tensor logits) => logits.dtype == ScalarType.Float32 ? logits : logits.to_type(ScalarType.Float32);

    sealed class MasterScope(MixedPrecision owner) : IDisposable
    {
        bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            owner.UseMasters();
        }
    }

    sealed class NoScope : IDisposable
    {
        public static readonly NoScope Instance = new();
        public void Dispose() { }
    }
}
