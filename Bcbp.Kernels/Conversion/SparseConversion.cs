using Bcbp.Models;
using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Modules;
using Bcbp.Kernels.Ops;
using Bcbp.Models.Structure;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Conversion;

/// <summary>What <see cref="SparseConversion.Convert"/> did: the modules now sparse, and the masked ones left dense with why.</summary>
/// <param name="Converted">Names of the modules replaced by BcbpConv2d/BcbpLinear, in named_modules order.</param>
/// <param name="LeftDense">Masked modules that stay masked dense modules (still correct), each with the reason.</param>
public sealed record SparseConversionResult(IReadOnlyList<string> Converted, IReadOnlyList<(string Name, string Reason)> LeftDense)
{
    /// <summary>"name: reason" per module left dense.</summary>
    public IReadOnlyList<string> LeftDenseLines => LeftDense.Select(l => $"{l.Name}: {l.Reason}").ToList();
}

/// <summary>
/// Turns a pruned model — any <c>nn.Module</c> whose Conv2d/Linear modules carry a <c>weight_mask</c> buffer — into a
/// sparse inference model: each such module is replaced in place, by name, with a <see cref="BcbpConv2d"/> or
/// <see cref="BcbpLinear"/>. Optionally folds the BatchNorm2d that follows a conv into it first
/// (<see cref="ModelStructure.ConvNorms"/>). What cannot be converted is left dense and named in the result: grouped
/// or depthwise convs, convs with a padding mode, other module types with a mask, and modules held in a field whose
/// declared type cannot take a sparse module.
/// </summary>
public static class SparseConversion
{
    /// <summary>Converts <paramref name="model"/> in place. A folded BatchNorm2d is replaced by nn.Identity where its
    /// field allows, else made the identity in place. With folding, ReLUs and residual adds of known blocks then move
    /// into the kernels' epilogues (<see cref="EpilogueFusion"/>) unless <paramref name="fuse"/> is false.
    /// <paramref name="dense"/> converts the unmasked Conv2d/Linear modules too (the stem, the classifier), as 0%-sparse
    /// layers (every column kept, <see cref="DenseTileRows"/>), so that the whole model runs on our kernels
    /// (<see cref="Plan.ModelPlan"/> needs it).</summary>
    public static SparseConversionResult Convert(nn.Module model, int tileRows, SparseLayout layout = SparseLayout.Auto, bool foldBatchNorm = false,
        bool? fuse = null, bool dense = false)
    {
        var result = ConvertLayers(model, tileRows, layout, foldBatchNorm, dense);
        if (foldBatchNorm && (fuse ?? true)) EpilogueFusion.Fuse(model);
        return result;
    }

    /// <summary>Tile height of a layer converted dense: 32 rows up to 32 outputs, else 64 (both kernels take it; the
    /// last tile may be partial).</summary>
    public static int DenseTileRows(long outputs) => outputs <= 32 ? 32 : 64;

    static SparseConversionResult ConvertLayers(nn.Module model, int tileRows, SparseLayout layout, bool foldBatchNorm, bool dense)
    {
        using var _ = no_grad();
        var masked = WeightMask.Masked(model).ToList();
        var names = masked.Select(m => m.Name).ToHashSet();
        if (dense)
        {
            var unmasked = model.named_modules()
                .Where(m => m.module is Conv2d or Linear && !names.Contains(m.name) && Unsupported(m.module) is null)
                .Select(m => (m.name, m.module, ones_like(m.module is Conv2d c ? c.weight! : ((Linear)m.module).weight!)));
            var order = model.named_modules().Select((m, i) => (m.name, i)).ToDictionary(p => p.name, p => p.i);
            masked = masked.Concat(unmasked).OrderBy(m => order[m.Item1]).ToList();
        }
        var norms = foldBatchNorm ? ModelStructure.ConvNorms(model) : new Dictionary<string, ConvNorm>();
        var converted = new List<string>();
        var leftDense = new List<(string, string)>();
        foreach (var (name, module, mask) in masked)
        {
            if (Unsupported(module) is string reason) { leftDense.Add((name, reason)); continue; }
            var norm = norms.GetValueOrDefault(name);
            bool full = !names.Contains(name);        // an unmasked layer converted dense
            int rows = full ? DenseTileRows(mask.shape[0]) : tileRows;
            var how = full ? SparseLayout.Bcbp : layout;
            nn.Module replacement = module switch
            {
                Conv2d conv => ConvertConv(conv, mask, rows, how, name, norm?.Module),
                Linear lin => new BcbpLinear(Pack(lin.weight!, mask, rows, how, name), lin.bias),
                _ => throw new InvalidOperationException("unreachable: Unsupported admits Conv2d and Linear only"),
            };
            try { ModuleReplacer.Replace(model, name, replacement); }
            catch (NotSupportedException e) { leftDense.Add((name, e.Message)); continue; }
            converted.Add(name);
            // Only now that the conv carries the folded weights does its BN become the identity.
            if (norm is not null)
            {
                BatchNormFolding.MakeIdentity(norm.Module);
                try { ModuleReplacer.Replace(model, norm.Norm, nn.Identity()); }
                catch (NotSupportedException) { /* a concrete BatchNorm2d field keeps the identity BN */ }
            }
        }
        return new SparseConversionResult(converted, leftDense);
    }

    /// <summary>Why a masked module cannot become a sparse module, or null when it can.</summary>
    static string? Unsupported(nn.Module module) => module switch
    {
        Conv2d { groups: > 1 } conv => $"grouped convolution (groups={conv.groups}): the sparse kernels run one dense GEMM per layer",
        // TorchSharp leaves padding null when the conv was built with a padding mode (same/valid) instead of sizes.
        Conv2d { padding: null } => "convolution built with a padding mode (same/valid); give the padding in pixels",
        Conv2d or Linear => null,
        _ => $"{module.GetType().Name} has no sparse module (Conv2d and Linear convert)",
    };

    static BcbpConv2d ConvertConv(Conv2d conv, Tensor mask, int tileRows, SparseLayout layout, string name, BatchNorm2d? norm)
    {
        var weight = conv.weight!.detach();
        var bias = conv.bias?.detach();
        if (norm is not null) (weight, bias) = BatchNormFolding.Fold(weight, bias, norm);
        var k = conv.kernel_size; var s = conv.stride; var d = conv.dilation; var p = conv.padding!;
        var g = new ConvGeometry((int)k[0], (int)k[1], (int)s[0], (int)s[1], (int)p[0], (int)p[1], (int)d[0], (int)d[1]);
        return new BcbpConv2d(Pack(weight, mask, tileRows, layout, name), weight.shape[1], g, bias);
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
