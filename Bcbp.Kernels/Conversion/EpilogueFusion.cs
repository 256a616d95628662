using System.Reflection;
using Bcbp.Kernels.Modules;
using Bcbp.Models;
using Bcbp.Models.ResNet;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Conversion;

/// <summary>
/// After conversion with BatchNorm folding: moves ReLUs and residual adds into the sparse kernels' epilogues, for the
/// block types whose forward is known (TorchVision's BasicBlock and Bottleneck, Bcbp.Models' CifarBasicBlock) and for Sequentials
/// (VGG: a sparse conv followed, past folded BatchNorms, by a ReLU). Any other module keeps running layer by layer.
/// </summary>
public static class EpilogueFusion
{
    // TorchVision keeps its blocks private to its ResNet class; their forward is torchvision's (conv-bn-relu..., + identity).
    static readonly Type? TorchVisionBottleneck = typeof(TorchSharp.Modules.ResNet).GetNestedType("Bottleneck", BindingFlags.NonPublic);
    static readonly Type? TorchVisionBasicBlock = typeof(TorchSharp.Modules.ResNet).GetNestedType("BasicBlock", BindingFlags.NonPublic);

    /// <summary>Fuses in place; returns the names of the fused blocks and ReLUs.</summary>
    public static IReadOnlyList<string> Fuse(nn.Module model)
    {
        var fused = new List<string>();
        foreach (var (name, module) in model.named_modules().ToList())
        {
            if (name.Length == 0) continue;
            var block = module switch
            {
                _ when module.GetType() == TorchVisionBottleneck => Block(module, new[] { "conv1", "conv2", "conv3" }, new[] { "bn1", "bn2", "bn3" }, null),
                _ when module.GetType() == TorchVisionBasicBlock => Block(module, new[] { "conv1", "conv2" }, new[] { "bn1", "bn2" }, null),
                CifarBasicBlock b => Block(b, new[] { "conv1", "conv2" }, new[] { "bn1", "bn2" }, b.Shortcut, ((int)b.Stride, (int)b.PadChannels)),
                _ => null,
            };
            if (block is null) continue;
            ModuleReplacer.Replace(model, name, block);
            fused.Add(name);
        }
        foreach (var (name, module) in model.named_modules().ToList())
            if (module is Sequential seq) fused.AddRange(FuseRelus(model, name, seq));
        return fused;
    }

    static SparseResidualBlock? Block(nn.Module block, string[] convNames, string[] normNames, Func<Tensor, Tensor>? shortcut,
        (int, int)? optionA = null)
    {
        var children = block.named_children().ToDictionary(c => c.name, c => c.module);
        var convs = new List<(string, BcbpConv2d)>();
        foreach (var c in convNames)
            if (children.GetValueOrDefault(c) is BcbpConv2d conv) convs.Add((c, conv)); else return null;
        // Every BatchNorm must have been folded away (replaced by Identity), or the fused block would skip it.
        if (normNames.Any(n => children.GetValueOrDefault(n) is not Identity)) return null;
        var downsample = children.GetValueOrDefault("downsample") as nn.Module<Tensor, Tensor>;
        if (downsample is not null && downsample.named_modules().Any(m => m.module is BatchNorm2d)) return null;
        return new SparseResidualBlock(convs, shortcut ?? (downsample is null ? x => x : downsample.call), downsample, optionA);
    }

    static IEnumerable<string> FuseRelus(nn.Module model, string prefix, Sequential seq)
    {
        var items = seq.named_children().ToList();
        string Path(int k) => prefix.Length == 0 ? items[k].name : $"{prefix}.{items[k].name}";
        for (int i = 0; i < items.Count; i++)
        {
            if (items[i].module is not BcbpConv2d conv) continue;
            int j = i + 1;
            while (j < items.Count && items[j].module is Identity) j++;
            if (j < items.Count && items[j].module is ReLU)
            {
                conv.FusedRelu = true;
                ModuleReplacer.Replace(model, Path(j), nn.Identity());
                yield return Path(j);
                j++;
            }
            // A 2x2 pool right after keeps the CHWN memory (no copy to NCHW and back before the next sparse conv).
            if (j < items.Count && items[j].module is MaxPool2d pool && IsPlain2x2(pool))
            {
                ModuleReplacer.Replace(model, Path(j), new ChwnMaxPool2d(pool));
                yield return Path(j);
            }
        }
    }

    static bool IsPlain2x2(MaxPool2d p)
        => p.kernel_size.All(k => k == 2) && (p.stride ?? p.kernel_size).All(s => s == 2) && (p.padding ?? new long[] { 0 }).All(q => q == 0)
           && (p.dilation ?? new long[] { 1 }).All(d => d == 1);
}
