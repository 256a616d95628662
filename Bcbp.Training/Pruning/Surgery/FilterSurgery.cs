using Bcbp.Training.Pruning.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Surgery;

/// <summary>
/// Turns a filter-pruned (masked) model into a genuinely smaller dense one, in place: for every
/// <see cref="ChannelChain"/> whose producer has all-zero mask rows, those output channels are removed from the
/// producer (weight, bias, mask), its BatchNorm (affine and running stats) and the consumer's input columns (weight
/// and mask). Outputs are unchanged because the masked model already computes exactly zero for those channels (the
/// pruning hook zeroes the BatchNorm affine of filter-pruned channels, so BN(0) = 0 and ReLU(0) = 0). Zero rows of
/// layers that are not removable (block outputs, see <see cref="ChannelChain.Find"/>) stay as masked zeros.
/// </summary>
public static class FilterSurgery
{
    /// <summary>Per chain: the producer's name and its channels before and after.</summary>
    public sealed record Removed(string Producer, long ChannelsBefore, long ChannelsAfter);

    /// <summary>Shrinks <paramref name="model"/> and returns what was removed (chains with nothing to remove are left out).</summary>
    public static IReadOnlyList<Removed> Apply(nn.Module model)
    {
        using var _ = torch.no_grad();
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        var removed = new List<Removed>();
        foreach (var chain in ChannelChain.Find(model))
        {
            var producer = (Conv2d)modules[chain.Producer];
            var mask = MaskOf(producer);
            if (mask is null) continue;
            var keep = WeightMatrix.AsMatrix(mask).sum(1).gt(0).nonzero().flatten();
            long before = mask.shape[0], after = keep.numel();
            if (after == before) continue;
            if (after == 0)
                throw new InvalidOperationException($"every filter of {chain.Producer} is pruned; the model cannot be shrunk to zero channels (lower the layer's sparsity).");

            producer.weight = new Parameter(producer.weight!.index_select(0, keep).clone());
            SetChannels(producer, "out_channels", after);
            if (producer.bias is not null) producer.bias = new Parameter(producer.bias.index_select(0, keep).clone());
            Resize(mask, mask.index_select(0, keep));
            if (chain.Norm is not null) ShrinkNorm((BatchNorm2d)modules[chain.Norm], keep);

            var columns = (keep.unsqueeze(1) * chain.ColumnsPerChannel + torch.arange(chain.ColumnsPerChannel, device: keep.device)).flatten();
            switch (modules[chain.Consumer])
            {
                case Conv2d conv:
                    conv.weight = new Parameter(conv.weight!.index_select(1, keep).clone());
                    SetChannels(conv, "in_channels", after);
                    if (MaskOf(conv) is { } cm) Resize(cm, cm.index_select(1, keep));
                    break;
                case Linear linear:
                    linear.weight = new Parameter(linear.weight!.index_select(1, columns).clone());
                    if (MaskOf(linear) is { } lm) Resize(lm, lm.index_select(1, columns));
                    break;
                default:
                    throw new NotSupportedException($"{chain.Consumer} is neither Conv2d nor Linear.");
            }
            removed.Add(new Removed(chain.Producer, before, after));
        }
        return removed;
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

    static Tensor? MaskOf(nn.Module m) =>
        m.named_buffers(recurse: false).Where(b => b.name == PrunableLayer.MaskBufferName).Select(b => b.buffer).FirstOrDefault();

    /// <summary>Buffers are registered once; re-pointing them in place (set_) keeps the registration (and the state dict key).</summary>
    static void Resize(Tensor buffer, Tensor values)
    {
        buffer.set_(values.clone());
    }
}
