using Bcbp.Models.ResNet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.Structure;

/// <summary>
/// The one owner of what Bcbp knows about a model's wiring: which BatchNorm follows which conv (used by filter
/// pruning to silence a pruned filter's BN, and by BN folding before sparse conversion) and which channels can be
/// physically removed (used by filter coupling and surgery).
/// </summary>
public static class ModelStructure
{
    /// <summary>
    /// Conv name -> the BatchNorm2d that normalizes its output: the BatchNorm2d registered right after the conv in the
    /// same parent (named_children order) with as many features as the conv has filters.
    /// </summary>
    public static IReadOnlyDictionary<string, ConvNorm> ConvNorms(nn.Module model)
    {
        var result = new Dictionary<string, ConvNorm>();
        foreach (var (name, parent) in WithRoot(model))
        {
            string prefix = name.Length == 0 ? "" : name + ".";
            var children = parent.named_children().ToList();
            for (int i = 0; i + 1 < children.Count; i++)
                if (children[i].module is Conv2d conv && children[i + 1].module is BatchNorm2d bn
                    && bn.weight is { } g && g.shape[0] == conv.weight!.shape[0])
                    result[prefix + children[i].name] = new ConvNorm(prefix + children[i].name, prefix + children[i + 1].name, bn);
        }
        return result;
    }

    /// <summary>
    /// The removable channel chains of a Bcbp model. Rule: only channels that feed nothing but the next layer are
    /// removable. ResNet: the internal channels of each block (conv1 -> conv2 of a BasicBlock / CIFAR block,
    /// conv1 -> conv2 and conv2 -> conv3 of a Bottleneck); block outputs, shortcuts and the stem feed residual sums
    /// and are never shrunk. VGG: every conv of <c>features</c> into the next conv, the last one into
    /// <c>classifier.0</c>. Other models: none.
    /// </summary>
    public static IReadOnlyList<ChannelChain> ChannelChains(nn.Module model)
    {
        var chains = new List<ChannelChain>();
        foreach (var (name, module) in WithRoot(model))
        {
            string prefix = name.Length == 0 ? "" : name + ".";
            if (module is BasicBlock or CifarBasicBlock)
                chains.Add(new(prefix + "conv1", prefix + "bn1", prefix + "conv2", 1));
            else if (module is Bottleneck)
            {
                chains.Add(new(prefix + "conv1", prefix + "bn1", prefix + "conv2", 1));
                chains.Add(new(prefix + "conv2", prefix + "bn2", prefix + "conv3", 1));
            }
            else if (module is Vgg.Vgg)
                chains.AddRange(VggChains(module, prefix));
        }
        return chains;
    }

    static IEnumerable<ChannelChain> VggChains(nn.Module vgg, string prefix)
    {
        var features = vgg.named_children().First(c => c.name == "features").module.named_children().ToList();
        var convs = features.Select((c, i) => (c.name, c.module, i)).Where(c => c.module is Conv2d).ToList();
        for (int j = 0; j < convs.Count; j++)
        {
            var (name, conv, i) = convs[j];
            string? norm = i + 1 < features.Count && features[i + 1].module is BatchNorm2d ? prefix + "features." + features[i + 1].name : null;
            if (j + 1 < convs.Count)
                yield return new(prefix + "features." + name, norm, prefix + "features." + convs[j + 1].name, 1);
            else
            {
                var head = (Linear)vgg.named_modules().First(m => m.name == "classifier.0").module;
                long channels = ((Conv2d)conv).weight!.shape[0];
                yield return new(prefix + "features." + name, norm, prefix + "classifier.0", head.weight!.shape[1] / channels);
            }
        }
    }

    /// <summary>named_modules leaves out the root module itself (name "").</summary>
    static IEnumerable<(string name, nn.Module module)> WithRoot(nn.Module model) =>
        new[] { ("", model) }.Concat(model.named_modules());
}
