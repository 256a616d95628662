using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Formats;

/// <summary>Masks for checks and benchmarks: random balanced BCBP masks, random block masks of equal sparsity, a
/// magnitude BCBP mask (L1 norm of each tile_rows x 1 column vector, the lowest pruned equally in every tile) and
/// random silent filters.</summary>
public static class SyntheticMasks
{
    /// <summary>Prunes every Conv2d of <paramref name="model"/> but the first (the stem) with a random balanced mask of
    /// <paramref name="sparsity"/> (weights multiplied, <c>weight_mask</c> registered), as the benchmarks and the
    /// whole-model checks do; returns the names of the pruned convs. The kept weights are scaled by
    /// 1/sqrt(1 - sparsity) so each layer keeps its output's scale, as fine-tuning restores it in a trained model:
    /// without that a deep net without BatchNorm (VGG-16) shrinks its activations by (1 - sparsity) per layer and at
    /// 87.5% underflows float16 (logits rel err 7e-2 against the masked dense model on the H200, from rounding alone).</summary>
    public static IReadOnlyList<string> PruneModel(nn.Module model, int tileRows, double sparsity, Generator gen)
    {
        using var _ = no_grad();
        var pruned = new List<string>();
        bool first = true;
        foreach (var (name, m) in model.named_modules())
            if (m is TorchSharp.Modules.Conv2d conv)
            {
                if (first) { first = false; continue; }
                var w = conv.weight!;
                var mask = RandomBcbp(w.shape[0], w.numel() / w.shape[0], tileRows, sparsity, gen).reshape(w.shape).to(w.device);
                w.mul_(mask).div_(Math.Sqrt(1 - sparsity));
                Bcbp.Models.WeightMask.Register(conv, mask);
                pruned.Add(name);
            }
        return pruned;
    }

    /// <summary>Filter pruning as the pruning hook leaves it, without its ranking (seconds on VGG-16's large layers): of
    /// every Conv2d but the first (the stem), all filters but a random half plus <paramref name="extra"/> are masked
    /// (<c>weight_mask</c> rows), their weights and their BatchNorm's affine zeroed, so each pruned filter is silent and
    /// <c>FilterSurgery</c> can remove it (<paramref name="extra"/> 1 leaves odd widths: 9 of 16).</summary>
    public static void PruneHalfTheFilters(nn.Module model, Generator gen, int extra = 0)
    {
        using var _ = no_grad();
        var norms = Bcbp.Models.Structure.ModelStructure.ConvNorms(model);
        bool first = true;
        foreach (var (name, module) in model.named_modules().ToList())
        {
            if (module is not TorchSharp.Modules.Conv2d conv) continue;
            if (first) { first = false; continue; }
            if (!norms.TryGetValue(name, out var norm))
                throw new ArgumentException($"{name} has no BatchNorm after it: its pruned filters would not be silent");
            long m = conv.weight!.shape[0], keep = Math.Min(m, m / 2 + extra);
            var alive = zeros(m).index_fill_(0, randperm(m, generator: gen).narrow(0, 0, keep), 1.0).to(conv.weight.device);
            var mask = alive.reshape(m, 1, 1, 1).expand_as(conv.weight).clone();
            Bcbp.Models.WeightMask.Register(conv, mask);
            conv.weight.mul_(mask);
            norm.Module.weight!.mul_(alive);
            norm.Module.bias!.mul_(alive);
        }
    }

    /// <summary>Scale of every BatchNorm's weight after <see cref="CalibrateBatchNorm"/>: a trained residual net's branches
    /// add well below the identity path's scale, and a random one whose branches all add unit-variance outputs is
    /// chaotic: ResNet-50 in bfloat16 against float32 (CPU) 1.3e-1 with weights 1, 4.6e-3 with 0.3 (5.1e-3 uncalibrated).</summary>
    public const double CalibratedBranchScale = 0.3;

    /// <summary>Sets every BatchNorm2d's running statistics to those one batch of random inputs of
    /// <paramref name="inputShape"/> meets in <paramref name="model"/> (a train-mode forward with momentum 1), then scales
    /// the BatchNorms' weights by <see cref="CalibratedBranchScale"/>, and leaves the model in eval mode: statistics as
    /// training leaves a real model's. Without it a deep residual net at initialisation (ResNet-56: identity BN, 27
    /// blocks) grows its activations block by block until float16 overflows (logits rel err NaN on the H200).</summary>
    public static void CalibrateBatchNorm(nn.Module<Tensor, Tensor> model, long[] inputShape, Generator gen)
    {
        using var _ = no_grad();
        var norms = model.modules().OfType<TorchSharp.Modules.BatchNorm2d>().ToList();
        if (norms.Count > 0)
        {
            foreach (var bn in norms) bn.momentum = 1.0;
            model.train();
            model.forward(randn(inputShape, generator: gen));
            foreach (var bn in norms) { bn.momentum = 0.1; bn.weight?.mul_(CalibratedBranchScale); }
        }
        model.eval();  // always: a net without BatchNorm may have dropout (VGG-16's classifier)
    }

    /// <summary>Every row tile keeps the same round(K * (1 - sparsity)) random columns of its own.</summary>
    public static Tensor RandomBcbp(long rows, long cols, int tileRows, double sparsity, Generator gen)
    {
        long keep = Math.Max(1, (long)Math.Round(cols * (1 - sparsity)));
        var mask = zeros(rows, cols);
        for (long t = 0; t < rows; t += tileRows)
        {
            var kept = randperm(cols, generator: gen).narrow(0, 0, keep);
            mask.narrow(0, t, Math.Min(tileRows, rows - t)).index_fill_(1, kept, 1);
        }
        return mask;
    }

    /// <summary>Blocks of tileRows x blockCols kept by one layer-wide threshold on random scores: the same sparsity,
    /// but each tile keeps its own number of blocks.</summary>
    public static Tensor RandomBlock(long rows, long cols, int tileRows, double sparsity, Generator gen, int blockCols = 16)
    {
        long tiles = (rows + tileRows - 1) / tileRows, blocks = (cols + blockCols - 1) / blockCols;
        var scores = rand(tiles, blocks, generator: gen);
        long keep = Math.Max(1, (long)Math.Round(tiles * blocks * (1 - sparsity)));
        var threshold = scores.flatten().topk((int)keep).values.min();
        var kept = scores.ge(threshold).to(ScalarType.Float32);
        return kept.repeat_interleave(tileRows, 0).repeat_interleave(blockCols, 1).narrow(0, 0, rows).narrow(1, 0, cols).contiguous();
    }

    /// <summary>BCBP by magnitude: in every tile, keep the round(K * (1 - sparsity)) column vectors of largest L1 norm.</summary>
    public static Tensor MagnitudeBcbp(Tensor weight, int tileRows, double sparsity)
    {
        var w2 = TileColumns.Flatten(weight).abs().cpu().to(ScalarType.Float32);
        long rows = w2.shape[0], cols = w2.shape[1];
        long keep = Math.Max(1, (long)Math.Round(cols * (1 - sparsity)));
        var mask = zeros(rows, cols);
        for (long t = 0; t < rows; t += tileRows)
        {
            long len = Math.Min(tileRows, rows - t);
            var norms = w2.narrow(0, t, len).sum(dim: 0);
            mask.narrow(0, t, len).index_fill_(1, norms.topk((int)keep).indexes, 1);
        }
        return mask.reshape(weight.shape);
    }
}
