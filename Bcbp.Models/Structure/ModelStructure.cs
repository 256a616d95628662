using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.Structure;

/// <summary>
/// The one owner of what Bcbp knows about a model's wiring, for any <c>nn.Module</c>, read from module types and
/// registration order (never from class or layer names): which BatchNorm follows which conv (used by filter pruning to
/// silence a pruned filter's BN, and by BN folding before sparse conversion) and which channels can be physically
/// removed (used by filter coupling and surgery).
/// </summary>
/// <remarks>
/// TorchSharp has no graph tracing, so data flow is inferred as PyTorch code is conventionally written:
/// a <c>Sequential</c> runs its children in order; a module with its own forward declares its layers in the order it
/// applies them (torchvision's blocks: conv1, bn1, conv2, bn2, ..., downsample). Rules:
/// <list type="bullet">
/// <item>conv -> BN: the BatchNorm2d registered right after a Conv2d in the same parent, with as many features as the
/// conv has filters (conv1/bn1, features.0/features.1, downsample.0/downsample.1).</item>
/// <item>Inside a <c>Sequential</c>: a conv feeds the next Conv2d/Linear child when only its BN and parameter-free
/// per-channel modules (ReLU, pools, dropout, identity, flatten), at least one ReLU among them, sit in between.</item>
/// <item>Inside any other module: each direct Conv2d child feeds the next direct Conv2d child whose input channels equal
/// its filters (a residual block's inner convs; the block's last conv, its shortcut and a stem feed sums or other
/// modules and are never producers).</item>
/// <item>A <c>Sequential</c> child ending in a conv (then per-channel modules with a ReLU) feeds the first layer of the
/// next <c>Sequential</c> sibling when only parameter-free per-channel modules sit between (VGG's features ->
/// avgpool -> classifier.0, with <see cref="ChannelChain.ColumnsPerChannel"/> = in_features / channels).</item>
/// </list>
/// Grouped and depthwise convs are never part of a chain (their channels are tied to groups). ShrinkExport checks the
/// shrunk model's outputs against the masked model, so a model that breaks the convention is reported, not trusted.
/// </remarks>
public static class ModelStructure
{
    /// <summary>
    /// Conv name -> the BatchNorm2d that normalizes its output: the BatchNorm2d registered right after the conv in the
    /// same parent (named_children order) with as many features as the conv has filters.
    /// </summary>
    public static IReadOnlyDictionary<string, ConvNorm> ConvNorms(nn.Module model)
    {
        var result = new Dictionary<string, ConvNorm>();
        foreach (var (prefix, parent) in Parents(model))
        {
            var children = parent.named_children().ToList();
            for (int i = 0; i + 1 < children.Count; i++)
                if (children[i].module is Conv2d conv && children[i + 1].module is BatchNorm2d bn
                    && bn.weight is { } g && g.shape[0] == conv.weight!.shape[0])
                    result[prefix + children[i].name] = new ConvNorm(prefix + children[i].name, prefix + children[i + 1].name, bn);
        }
        return result;
    }

    /// <summary>The removable channel chains of <paramref name="model"/>, in named_modules order of their producers.</summary>
    public static IReadOnlyList<ChannelChain> ChannelChains(nn.Module model)
    {
        var norms = ConvNorms(model).ToDictionary(p => p.Key, p => p.Value.Norm);
        var chains = new List<ChannelChain>();
        foreach (var (prefix, parent) in Parents(model))
        {
            var children = parent.named_children().Select(c => (Name: prefix + c.name, c.module)).ToList();
            if (parent is Sequential)
            {
                for (int i = 0; i < children.Count; i++)
                    if (children[i].module is Conv2d p && Ungrouped(p) && ConsumerInSequence(children, i + 1) is { } c)
                        Add(chains, children[i].Name, p, norms, c.Name, c.module);
                continue;
            }
            var convs = children.Where(c => c.module is Conv2d).ToList();
            for (int i = 0; i + 1 < convs.Count; i++)
            {
                var (p, c) = ((Conv2d)convs[i].module, (Conv2d)convs[i + 1].module);
                if (Ungrouped(p) && Ungrouped(c) && c.in_channels == p.out_channels)
                    Add(chains, convs[i].Name, p, norms, convs[i + 1].Name, c);
            }
            for (int i = 0; i < children.Count; i++)
            {
                if (children[i].module is not Sequential a) continue;
                int j = i + 1;
                while (j < children.Count && PerChannel(children[j].module)) j++;
                if (j == children.Count || children[j].module is not Sequential b) continue;
                var tail = Tail(a, children[i].Name);
                var first = b.named_children().FirstOrDefault();
                if (tail is { } t && first.module is Conv2d or Linear)
                    Add(chains, t.Name, t.Conv, norms, children[j].Name + "." + first.name, first.module);
            }
        }
        var order = model.named_modules().Select((m, i) => (m.name, i)).ToDictionary(p => p.name, p => p.i);
        return chains.OrderBy(c => order[c.Producer]).ToList();
    }

    static void Add(List<ChannelChain> chains, string producer, Conv2d p, IReadOnlyDictionary<string, string> norms, string consumer, nn.Module c)
    {
        long channels = p.out_channels;
        long columns = c switch
        {
            Conv2d conv when Ungrouped(conv) && conv.in_channels == channels => 1,
            Linear lin when lin.in_features % channels == 0 => lin.in_features / channels,
            _ => 0,
        };
        if (columns > 0) chains.Add(new ChannelChain(producer, norms.GetValueOrDefault(producer), consumer, columns));
    }

    /// <summary>The Conv2d/Linear that children[from..] reach first through the producer's BN and per-channel modules, with a ReLU among them.</summary>
    static (string Name, nn.Module module)? ConsumerInSequence(IReadOnlyList<(string Name, nn.Module module)> children, int from)
    {
        bool relu = false;
        for (int i = from; i < children.Count; i++)
        {
            var m = children[i].module;
            if (m is Conv2d or Linear) return relu ? children[i] : null;
            if (m is BatchNorm2d && i == from) continue;
            if (!PerChannel(m)) return null;
            relu |= m is ReLU;
        }
        return null;
    }

    /// <summary>The last conv of a Sequential when only its BN and per-channel modules (with a ReLU) follow it.</summary>
    static (string Name, Conv2d Conv)? Tail(Sequential seq, string prefix)
    {
        var children = seq.named_children().ToList();
        int last = children.FindLastIndex(c => c.module is Conv2d or Linear);
        if (last < 0 || children[last].module is not Conv2d conv || !Ungrouped(conv)) return null;
        bool relu = false;
        for (int i = last + 1; i < children.Count; i++)
        {
            var m = children[i].module;
            if (m is BatchNorm2d && i == last + 1) continue;
            if (!PerChannel(m)) return null;
            relu |= m is ReLU;
        }
        return relu ? (prefix + "." + children[last].name, conv) : null;
    }

    /// <summary>Parameter-free modules that act on each channel alone (a zero channel stays zero).</summary>
    static bool PerChannel(nn.Module m) => m is ReLU or MaxPool2d or AvgPool2d or AdaptiveAvgPool2d or AdaptiveMaxPool2d
        or Dropout or Dropout2d or Identity or Flatten;

    static bool Ungrouped(Conv2d conv) => conv.groups == 1;

    /// <summary>Every module with its dotted prefix ("" for the root, "layer1.0." for a block).</summary>
    static IEnumerable<(string Prefix, nn.Module Module)> Parents(nn.Module model) =>
        new[] { ("", model) }.Concat(model.named_modules().Select(m => (m.name + ".", m.module)));
}
