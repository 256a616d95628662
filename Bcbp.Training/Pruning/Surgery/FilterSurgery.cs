using Bcbp.Models;
using Bcbp.Models.Structure;
using Bcbp.Training.Pruning.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Surgery;

/// <summary>
/// Turns a filter-pruned (masked) model into a genuinely smaller dense one, in place: for every
/// <see cref="ChannelChain"/>, the producer's silent output channels are removed from the producer (weight, bias,
/// mask), its BatchNorm (affine and running stats) and the consumer's input columns (weight and mask). A channel is
/// silent when its mask row is all zero and its constant output (the conv bias, through the BatchNorm in eval mode)
/// is &lt;= 0, so the ReLU every chain has before its consumer makes it exactly 0: outputs are unchanged. The pruning
/// hook zeroes the BatchNorm affine of filter-pruned channels, so every pruned filter of a <c>filter</c> run is silent;
/// an all-zero row left by another method is silent only if its BatchNorm happens to give &lt;= 0. Zero rows of
/// layers that are not removable (block outputs, see <see cref="ModelStructure.ChannelChains"/>) stay as masked zeros.
/// A shrunk model's widths are not known to the architecture: <see cref="Widths"/> lists them and
/// <see cref="ResizeTo(nn.Module, IReadOnlyDictionary{string, long})"/> gives a fresh model the same shapes before
/// its state dict is loaded.
/// </summary>
public static class FilterSurgery
{
    /// <summary>Per chain: the producer's name and its channels before and after.</summary>
    public sealed record Removed(string Producer, long ChannelsBefore, long ChannelsAfter);

    /// <summary>Shrinks <paramref name="model"/> and returns what was removed (chains with nothing to remove are left out).</summary>
    public static IReadOnlyList<Removed> Apply(nn.Module model)
    {
        using var _ = torch.no_grad();
        var modules = Modules(model);
        var removed = new List<Removed>();
        foreach (var chain in ModelStructure.ChannelChains(model))
        {
            var producer = (Conv2d)modules[chain.Producer];
            var mask = WeightMask.Of(producer);
            if (mask is null) continue;
            var norm = chain.Norm is null ? null : (BatchNorm2d)modules[chain.Norm];
            var keep = SilentChannels(mask, producer.bias, norm).logical_not().nonzero().flatten();
            long before = mask.shape[0], after = keep.numel();
            if (after == before) continue;
            if (after == 0)
                throw new InvalidOperationException($"every filter of {chain.Producer} is pruned; the model cannot be shrunk to zero channels (lower the layer's sparsity).");
            Keep(modules, chain, keep);
            removed.Add(new Removed(chain.Producer, before, after));
        }
        return removed;
    }

    /// <summary>
    /// Per output channel of a producer: true when its mask row is all zero and its constant output (bias, or 0,
    /// through <paramref name="norm"/> in eval mode) is &lt;= 0, i.e. exactly 0 after the following ReLU.
    /// </summary>
    public static Tensor SilentChannels(Tensor mask, Tensor? bias, BatchNorm2d? norm)
    {
        using var _ = torch.no_grad();
        var zeroRow = WeightMatrix.AsMatrix(mask).sum(1).eq(0);
        var constant = bias?.detach().clone() ?? torch.zeros(mask.shape[0], dtype: ScalarType.Float32, device: mask.device);
        if (norm is not null)
        {
            bool training = norm.training;
            norm.eval();
            constant = norm.call(constant.to(norm.running_mean?.dtype ?? constant.dtype).reshape(1, -1, 1, 1)).flatten();
            norm.train(training);
        }
        return zeroRow.logical_and(constant.le(0));
    }

    /// <summary>Producer name -> output channels, for every removable chain of <paramref name="model"/> (its current widths).</summary>
    public static IReadOnlyDictionary<string, long> Widths(nn.Module model)
    {
        var modules = Modules(model);
        return ModelStructure.ChannelChains(model).ToDictionary(c => c.Producer, c => ((Conv2d)modules[c.Producer]).weight!.shape[0]);
    }

    /// <summary>
    /// Gives a freshly created model the widths of a shrunk one (from its manifest, see <see cref="Widths"/>), keeping
    /// the first channels of each producer, so the shrunk state dict then loads strictly. Every name must be a removable
    /// producer of <paramref name="model"/> and every width between 1 and the producer's current width.
    /// </summary>
    public static void ResizeTo(nn.Module model, IReadOnlyDictionary<string, long> widths)
    {
        using var _ = torch.no_grad();
        var modules = Modules(model);
        var chains = ModelStructure.ChannelChains(model).ToDictionary(c => c.Producer);
        var unknown = widths.Keys.Where(k => !chains.ContainsKey(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"cannot resize {string.Join(", ", unknown)}: not a removable producer of this model " +
                                        $"(removable: {string.Join(", ", chains.Keys)}); was the manifest written for another architecture?");
        foreach (var (name, width) in widths)
        {
            long current = ((Conv2d)modules[name]).weight!.shape[0];
            if (width < 1 || width > current)
                throw new ArgumentException($"width {width} of {name} is outside 1..{current} (its channels in this model); was the manifest written for another architecture?");
            if (width < current) Keep(modules, chains[name], torch.arange(width));
        }
    }

    /// <summary>
    /// As <see cref="ResizeTo(nn.Module, IReadOnlyDictionary{string, long})"/>, with the widths read from a shrunk
    /// state dict's shapes (rows of each producer's <c>weight</c>). Producers the state dict lacks are left as they are
    /// (the strict load that follows names them).
    /// </summary>
    public static void ResizeTo(nn.Module model, IReadOnlyDictionary<string, Tensor> stateDict)
    {
        var widths = ModelStructure.ChannelChains(model)
            .Where(c => stateDict.ContainsKey(c.Producer + ".weight"))
            .ToDictionary(c => c.Producer, c => stateDict[c.Producer + ".weight"].shape[0]);
        ResizeTo(model, widths);
    }

    /// <summary>Keeps only channels <paramref name="keep"/> of the chain's producer, norm and consumer input.</summary>
    static void Keep(IReadOnlyDictionary<string, nn.Module> modules, ChannelChain chain, Tensor keep)
    {
        var producer = (Conv2d)modules[chain.Producer];
        keep = keep.to(producer.weight!.device);
        long after = keep.numel();
        producer.weight = new Parameter(producer.weight!.index_select(0, keep).clone());
        SetChannels(producer, "out_channels", after);
        if (producer.bias is not null) producer.bias = new Parameter(producer.bias.index_select(0, keep).clone());
        if (WeightMask.Of(producer) is { } pm) Resize(pm, pm.index_select(0, keep));
        if (chain.Norm is not null) ShrinkNorm((BatchNorm2d)modules[chain.Norm], keep);

        var columns = (keep.unsqueeze(1) * chain.ColumnsPerChannel + torch.arange(chain.ColumnsPerChannel, device: keep.device)).flatten();
        switch (modules[chain.Consumer])
        {
            case Conv2d conv:
                conv.weight = new Parameter(conv.weight!.index_select(1, keep).clone());
                SetChannels(conv, "in_channels", after);
                if (WeightMask.Of(conv) is { } cm) Resize(cm, cm.index_select(1, keep));
                break;
            case Linear linear:
                linear.weight = new Parameter(linear.weight!.index_select(1, columns).clone());
                if (WeightMask.Of(linear) is { } lm) Resize(lm, lm.index_select(1, columns));
                break;
            default:
                throw new NotSupportedException($"{chain.Consumer} is neither Conv2d nor Linear.");
        }
    }

    static void ShrinkNorm(BatchNorm2d bn, Tensor keep)
    {
        if (bn.weight is not null) bn.weight = new Parameter(bn.weight.index_select(0, keep).clone());
        if (bn.bias is not null) bn.bias = new Parameter(bn.bias.index_select(0, keep).clone());
        if (bn.running_mean is not null) Resize(bn.running_mean, bn.running_mean.index_select(0, keep));
        if (bn.running_var is not null) Resize(bn.running_var, bn.running_var.index_select(0, keep));
    }

    /// <summary>
    /// TorchSharp's Conv2d checks its input against a get-only <c>in_channels</c> and exposes no way to rebuild it in
    /// place; the model classes hold their convs in private fields, so the conv is kept and its channel count set
    /// through the auto-property's backing field.
    /// </summary>
    static void SetChannels(Conv2d conv, string property, long value)
    {
        var field = typeof(Convolution).GetField($"<{property}>k__BackingField", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)
            ?? throw new NotSupportedException($"this TorchSharp version has no backing field for Conv2d.{property}; physical filter pruning needs an update.");
        field.SetValue(conv, value);
    }

    static Dictionary<string, nn.Module> Modules(nn.Module model) => model.named_modules().ToDictionary(m => m.name, m => m.module);

    /// <summary>Buffers are registered once; re-pointing them in place (set_) keeps the registration (and the state dict key).</summary>
    static void Resize(Tensor buffer, Tensor values)
    {
        buffer.set_(values.clone());
    }
}
