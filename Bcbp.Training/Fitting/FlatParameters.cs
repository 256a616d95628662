using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>
/// Packs a model's trainable parameters into one contiguous tensor (<see cref="Flat"/>): each parameter becomes a view
/// of its slice (same Parameter objects, so modules, hooks and state dicts are unchanged). The optimizer then updates
/// <see cref="Flat"/> with a handful of kernels instead of four or five per parameter; for a CIFAR ResNet-56 (170
/// parameter tensors) that is the difference between PyTorch's multi-tensor SGD and a loop of ~800 small launches.
/// Build it after the model is on its device and before the optimizer; do not move the model afterwards.
/// <para>
/// Layout: parameters in registration order (with a <c>group</c>, the groups one after the other, each in
/// registration order). With <c>channelsLast</c>, a 4-D (conv) weight's slice holds it in OHWI
/// order and the parameter is the view <c>slice.view(O,H,W,I).permute(0,3,1,2)</c>: logically OIHW, NHWC-strided,
/// which is what cuDNN's channels_last kernels want; any buffer of the same size and layout (the mixed-precision
/// compute copy, the gradient) maps onto the parameters through <see cref="ViewOf"/>, so one elementwise kernel
/// covers all of them.
/// </para>
/// <para>
/// Gradients: <see cref="Gradient"/> is one float buffer of the flat's size and layout, <see cref="Flat"/>'s gradient,
/// cut into <see cref="Buckets"/> as DDP cuts its gradients: about <see cref="DefaultBucketBytes"/> each, parameters
/// in reverse registration order (the first bucket holds the last layers, whose gradients backward produces first),
/// so data-parallel training can all-reduce each bucket's view as soon as it is complete.
/// </para>
/// </summary>
public sealed class FlatParameters
{
    /// <summary>DDP's default bucket size (<c>bucket_cap_mb = 25</c>).</summary>
    public const long DefaultBucketBytes = 25L * 1024 * 1024;

    readonly Parameter[] _params;

    readonly Dictionary<Parameter, int> _index;
    readonly long[] _offsets;
    readonly int[] _groups;
    readonly bool[] _nhwc;

    /// <summary>All trainable parameters, one after the other, as one Parameter for the optimizer.</summary>
    public Parameter Flat { get; }

    /// <summary>The trainable parameters in registration order (index i is the i-th slice of <see cref="Flat"/>).</summary>
    public IReadOnlyList<Parameter> Parameters => _params;

    /// <summary>Conv weights are NHWC-strided views of OHWI slices.</summary>
    public bool ChannelsLast { get; }

    /// <summary><see cref="Flat"/>'s gradient: float, same size and layout; <see cref="GatherGradients"/> fills it.</summary>
    public Tensor Gradient { get; }

    /// <summary>The views of <see cref="Gradient"/> that together cover it exactly once, in the order backward
    /// completes them (reverse registration order).</summary>
    public IReadOnlyList<GradientBucket> Buckets { get; }

    /// <param name="model">The model whose trainable parameters are packed.</param>
    /// <param name="channelsLast">Conv weights as NHWC-strided views of OHWI slices.</param>
    /// <param name="bucketBytes">Target size of a gradient bucket.</param>
    /// <param name="group">Optional group of each parameter (mixed precision: 0 for those computed in the half type,
    /// 1 for the fp32 ones): the flat buffer holds the groups one after the other, each in registration order, and a
    /// bucket never mixes groups, so its gradients (one dtype) concatenate in one kernel.</param>
    public FlatParameters(nn.Module model, bool channelsLast = false, long bucketBytes = DefaultBucketBytes, Func<Parameter, int>? group = null)
    {
        if (bucketBytes <= 0) throw new ArgumentException($"bucket size must be > 0 bytes, got {bucketBytes}.");
        _params = model.parameters().Where(p => p.requires_grad).ToArray();
        if (_params.Length == 0) throw new ArgumentException("the model has no trainable parameter.");
        _index = new Dictionary<Parameter, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < _params.Length; i++) _index[_params[i]] = i;
        var first = _params[0];
        if (_params.Any(p => p.dtype != first.dtype || p.device.ToString() != first.device.ToString()))
            throw new NotSupportedException("parameters of mixed dtypes or devices cannot share one flat buffer.");
        ChannelsLast = channelsLast;
        _nhwc = _params.Select(p => channelsLast && p.dim() == 4).ToArray();
        _groups = _params.Select(p => group?.Invoke(p) ?? 0).ToArray();
        _offsets = new long[_params.Length];
        long total = 0;
        foreach (int i in Enumerable.Range(0, _params.Length).OrderBy(i => _groups[i]).ThenBy(i => i))
        {
            _offsets[i] = total;
            total += _params[i].numel();
        }

        using var noGrad = no_grad();
        var flat = empty(total, dtype: first.dtype, device: first.device).DetachFromDisposeScope();
        for (int i = 0; i < _params.Length; i++)
        {
            var p = _params[i];
            var slice = ViewOf(flat, i);
            slice.copy_(p);
            p.set_(slice); // the parameter now lives in flat's storage, with the slice's strides
        }
        Flat = new Parameter(flat, requires_grad: true);
        Gradient = zeros(total, dtype: first.dtype, device: first.device).DetachFromDisposeScope();
        Flat.grad = Gradient;
        Buckets = MakeBuckets(bucketBytes);
    }

    /// <summary>Whether the layout groups parameters (<c>group</c> given and not all equal): the optimizer state of a
    /// checkpoint follows it.</summary>
    public bool Grouped => _groups.Distinct().Count() > 1;

    /// <summary>Frees <see cref="Gradient"/> and its bucket views (the trainer that owned them is done); the parameters
    /// and <see cref="Flat"/> stay.</summary>
    public void DisposeGradient()
    {
        Flat.grad = null;
        foreach (var b in Buckets) b.View.Dispose();
        Gradient.Dispose();
    }

    /// <summary>Offset of parameter <paramref name="index"/>'s slice in <see cref="Flat"/> (elements).</summary>
    public long OffsetOf(int index) => _offsets[index];

    /// <summary>The index of <paramref name="p"/> in <see cref="Parameters"/> (by reference), or -1 when it is not
    /// trained here (frozen, or another model's).</summary>
    public int IndexOf(Parameter p) => _index.TryGetValue(p, out var i) ? i : -1;

    /// <summary>Parameter <paramref name="index"/>'s slice of <paramref name="buffer"/> (a 1-D tensor of
    /// <see cref="Flat"/>'s size, any dtype), shaped and strided as the parameter lives in <see cref="Flat"/>.</summary>
    public Tensor ViewOf(Tensor buffer, int index)
    {
        var p = _params[index];
        var slice = buffer.narrow(0, _offsets[index], p.numel());
        if (!_nhwc[index]) return slice.view(p.shape);
        var s = p.shape;
        return slice.view(s[0], s[2], s[3], s[1]).permute(0, 3, 1, 2);
    }

    /// <summary>Forgets the parameters' gradients (no kernel: backward then creates fresh ones instead of adding).</summary>
    public void ClearGradients()
    {
        foreach (var p in _params) p.grad = null;
    }

    /// <summary>Copies the parameters' gradients (after hooks changed them; of any floating dtype, the
    /// mixed-precision compute type included) into <see cref="Gradient"/>, bucket by bucket: one concatenation and one
    /// converting copy per bucket. A parameter without a gradient contributes zeros. Under mixed precision the groups
    /// keep each bucket to one dtype: CUDA's cat batches only inputs of one dtype (mixed, it would copy gradient by
    /// gradient, ~170 small kernels a step for ResNet-56).</summary>
    public void GatherGradients()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var bucket in Buckets)
        {
            var grads = bucket.Parameters.Select(FlatOrderGradient).ToArray();
            bucket.View.copy_(grads.Length == 1 ? grads[0] : cat(grads, 0));
        }
    }

    Tensor FlatOrderGradient(int index) => FlatOrder(index, _params[index].grad);

    /// <summary>A gradient <paramref name="grad"/> of parameter <paramref name="index"/> (its shape, any floating dtype;
    /// null: zeros) as a 1-D tensor in its slice's element order (OHWI for an NHWC conv weight: a free view when the
    /// gradient is NHWC-strided, as autograd makes it for such a weight).</summary>
    public Tensor FlatOrder(int index, Tensor? grad)
    {
        var p = _params[index];
        if (grad is null) return zeros(p.numel(), dtype: p.dtype, device: p.device);
        return _nhwc[index] ? grad.permute(0, 2, 3, 1).reshape(-1) : grad.reshape(-1);
    }

    /// <summary>Parameter <paramref name="index"/>'s slice of <see cref="Gradient"/>, 1-D, in flat order (what
    /// <see cref="FlatOrder"/> gives is copied into it).</summary>
    public Tensor GradientSlice(int index) => Gradient.narrow(0, _offsets[index], _params[index].numel());

    // Per group, parameters in reverse registration order cut into ~bucketBytes runs (each run a contiguous range of
    // the group's slices); then all buckets in the order backward completes them: a bucket is complete when its
    // earliest-registered parameter's gradient exists, and backward produces those last-registered first.
    IReadOnlyList<GradientBucket> MakeBuckets(long bucketBytes)
    {
        long elementBytes = Gradient.element_size();
        var runs = new List<int[]>();
        foreach (var g in _groups.Distinct().Order())
        {
            var members = new List<int>();
            long bytes = 0;
            for (int i = _params.Length - 1; i >= 0; i--)
            {
                if (_groups[i] != g) continue;
                members.Add(i);
                bytes += _params[i].numel() * elementBytes;
                if (bytes >= bucketBytes) { runs.Add(members.AsEnumerable().Reverse().ToArray()); members.Clear(); bytes = 0; }
            }
            if (members.Count > 0) runs.Add(members.AsEnumerable().Reverse().ToArray());
        }
        var buckets = new List<GradientBucket>();
        foreach (var m in runs.OrderByDescending(r => r[0]))
        {
            long offset = _offsets[m[0]];
            long length = _offsets[m[^1]] + _params[m[^1]].numel() - offset;
            buckets.Add(new GradientBucket(buckets.Count, offset, length, Gradient.narrow(0, offset, length).DetachFromDisposeScope(), m));
        }
        return buckets;
    }
}

/// <summary>
/// One bucket of <see cref="FlatParameters.Gradient"/>: elements [<paramref name="Offset"/>, Offset +
/// <paramref name="Length"/>) as the 1-D <paramref name="View"/> (shares the gradient's storage: an in-place
/// all-reduce of the view reduces the gradient), holding the whole slices of <paramref name="Parameters"/>
/// (indices into <see cref="FlatParameters.Parameters"/>, ascending).
/// </summary>
public sealed record GradientBucket(int Index, long Offset, long Length, Tensor View, IReadOnlyList<int> Parameters);
