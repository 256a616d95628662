using Bcbp.Models;
using Bcbp.Models.Structure;
using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Modules;
using Bcbp.Kernels.Ops;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Conversion;

/// <summary>
/// Turns a pruned model (Conv2d/Linear modules carrying a <c>weight_mask</c> buffer) into a sparse inference model:
/// each such module is replaced in place, by name, with a <see cref="BcbpConv2d"/> or <see cref="BcbpLinear"/>.
/// Optionally folds the BatchNorm2d that follows a conv into it first (<see cref="ModelStructure.ConvNorms"/>:
/// conv1/bn1, downsample.0/downsample.1).
/// </summary>
public static class SparseConversion
{
    /// <summary>Converts <paramref name="model"/> in place; returns the converted modules' names. A folded BatchNorm2d is
    /// replaced by nn.Identity where its field allows, else made the identity in place.</summary>
    public static IReadOnlyList<string> Convert(nn.Module model, int tileRows, SparseLayout layout = SparseLayout.Auto, bool foldBatchNorm = false)
    {
        using var _ = no_grad();
        var masked = WeightMask.Masked(model).ToList();
        var norms = foldBatchNorm ? ModelStructure.ConvNorms(model) : new Dictionary<string, ConvNorm>();
        var converted = new List<string>();
        foreach (var (name, module, mask) in masked)
        {
            nn.Module replacement = module switch
            {
                Conv2d conv => ConvertConv(model, conv, mask, tileRows, layout, norms.GetValueOrDefault(name)),
                Linear lin => new BcbpLinear(Pack(lin.weight!, mask, tileRows, layout, name), lin.bias),
                _ => throw new NotSupportedException($"'{name}' has a weight_mask but is a {module.GetType().Name}; only Conv2d and Linear convert"),
            };
            ModuleReplacer.Replace(model, name, replacement);
            converted.Add(name);
        }
        return converted;
    }

    static BcbpConv2d ConvertConv(nn.Module model, Conv2d conv, Tensor mask, int tileRows, SparseLayout layout, ConvNorm? following)
    {
        if (conv.groups != 1) throw new NotSupportedException($"grouped convolutions (groups={conv.groups}) do not convert");
        var weight = conv.weight!.detach();
        var bias = conv.bias?.detach();
        if (following is { } f)
        {
            (weight, bias) = BatchNormFolding.Fold(weight, bias, f.Module);
            BatchNormFolding.MakeIdentity(f.Module);
            try { ModuleReplacer.Replace(model, f.Norm, nn.Identity()); }
            catch (NotSupportedException) { /* a concrete BatchNorm2d field keeps the identity BN */ }
        }
        var k = conv.kernel_size; var s = conv.stride; var d = conv.dilation;
        // TorchSharp leaves padding null when the conv was built with a padding mode (same/valid) instead of sizes.
        var p = conv.padding ?? throw new NotSupportedException("convolutions built with a padding mode (same/valid) do not convert; give the padding in pixels");
        var g = new ConvGeometry((int)k[0], (int)k[1], (int)s[0], (int)s[1], (int)p[0], (int)p[1], (int)d[0], (int)d[1]);
        return new BcbpConv2d(Pack(weight, mask, tileRows, layout, "conv"), weight.shape[1], g, bias);
    }

    static TiledSparseMatrix Pack(Tensor weight, Tensor mask, int tileRows, SparseLayout layout, string name)
    {
        var w = weight.detach().cpu(); var m = mask.cpu();
        if (layout == SparseLayout.Block) return BlockSparseMatrix.Pack(w, m, tileRows);
        if (layout == SparseLayout.Bcbp) return BcbpMatrix.Pack(w, m, tileRows);
        var counts = TileColumns.Kept(m, tileRows).Select(c => c.Length).Distinct().Count();
        return counts <= 1 ? BcbpMatrix.Pack(w, m, tileRows) : BlockSparseMatrix.Pack(w, m, tileRows);
    }
}
