using Bcbp.Training.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>
/// Balanced column-wise block pruning (Park et al., AAAI 2023). W is cut into tiles (<see cref="TileGrid"/>); the
/// unit is a column vector of a tile (tile_rows x 1), scored by its L1/L2 norm. Each update runs the paper's steps:
/// <list type="number">
/// <item>tile pre-pruning: a threshold over the column vectors (of all layers in global scope, else of the layer)
/// gives each tile its own, unbalanced pruning ratio;</item>
/// <item>ratio recalibration: the layer's pruned fraction becomes one ratio r for all its tiles, i.e.
/// q = round(r * tile_cols) column vectors per tile (round(r * width) for a partial last column tile);</item>
/// <item>balanced pruning: every tile prunes exactly its q lowest-scored column vectors.</item>
/// </list>
/// In layer scope the pre-pruning threshold prunes the layer's target fraction by construction, so r = the layer's
/// sparsity. Vectors pruned at an earlier update score -inf and are taken first; q is raised to the largest
/// number of such vectors in any tile so the mask only grows and stays balanced.
/// </summary>
public sealed class BcbpMethod(int tileRows, int tileCols, RemainderRule remainder = RemainderRule.Error, int normP = 1) : IPruningMethod
{
    public PruneMethod Method => PruneMethod.Bcbp;

    public Tensor[] ComputeMasks(IReadOnlyList<PruneTarget> targets, bool global = false)
    {
        using var _ = torch.no_grad();
        var grids = targets.Select(t => TileGrid.For(t.M, t.K, tileRows, tileCols, remainder, t.Name)).ToArray();
        var scores = new Tensor[targets.Count];
        var forced = new Tensor[targets.Count];
        for (int i = 0; i < targets.Count; i++)
        {
            var t = targets[i];
            scores[i] = UnitPooling.Scores(t.Matrix, grids[i].TileRows, 1, normP);
            forced[i] = t.PreviousMask is null
                ? torch.zeros_like(scores[i], dtype: ScalarType.Bool)
                : UnitPooling.FullyPruned(t.PreviousMask, grids[i].TileRows, 1);
            scores[i] = scores[i].masked_fill(forced[i], double.NegativeInfinity);
        }
        double[] ratios = global ? PrePruneRatios(targets, grids, scores) : targets.Select(t => t.Sparsity).ToArray();
        return targets.Select((t, i) =>
        {
            var counts = Recalibrate(ratios[i], grids[i], forced[i]);
            var prunedVectors = BalancedPrune(scores[i], grids[i], counts);
            var keep = UnitPooling.Expand(prunedVectors.logical_not(), grids[i].TileRows, 1, t.M, t.K).to(t.Matrix.dtype);
            return t.PreviousMask is null ? keep : keep * t.PreviousMask;
        }).ToArray();
    }

    /// <summary>Step 1 in global scope: one threshold over every column vector of every layer; returns each layer's pruned weight fraction.</summary>
    static double[] PrePruneRatios(IReadOnlyList<PruneTarget> targets, TileGrid[] grids, Tensor[] scores)
    {
        var sizes = targets.Select((t, i) => UnitPooling.Sizes(t.M, t.K, grids[i].TileRows, 1, t.Matrix.device)).ToArray();
        var pruned = LowestSelection.Select(torch.cat(scores.Select(s => s.flatten()).ToArray()),
                                            torch.cat(sizes.Select(s => s.flatten()).ToArray()),
                                            targets.Sum(t => t.TargetWeights));
        var parts = pruned.split(scores.Select(s => s.numel()).ToArray());
        return targets.Select((t, i) =>
            (parts[i].to(ScalarType.Float64) * sizes[i].flatten().to(ScalarType.Float64)).sum().item<double>() / t.NumWeights).ToArray();
    }

    /// <summary>
    /// Step 2: the number of column vectors each column tile prunes (same for every row tile): round(ratio * width),
    /// raised to the most already-pruned vectors of any tile (full-width tiles share one count so every full tile has
    /// the same work; a partial last column tile gets its own, proportional count).
    /// </summary>
    public static long[] Recalibrate(double ratio, TileGrid grid, Tensor forcedVectors)
    {
        var forcedMax = UnitPooling.SumPerUnit(forcedVectors.to(ScalarType.Float32), 1, grid.TileCols)
                                   .amax(new long[] { 0 }).to(ScalarType.Int64).data<long>().ToArray();
        var counts = new long[grid.ColTiles];
        long fullForced = Enumerable.Range(0, (int)grid.ColTiles).Where(c => grid.Col(c).Width == grid.TileCols)
                                    .Select(c => forcedMax[c]).DefaultIfEmpty(0).Max();
        for (long c = 0; c < grid.ColTiles; c++)
        {
            long width = grid.Col(c).Width;
            long q = (long)Math.Round(ratio * width, MidpointRounding.AwayFromZero);
            counts[c] = Math.Max(q, width == grid.TileCols ? fullForced : forcedMax[c]);
        }
        return counts;
    }

    /// <summary>Step 3: in every tile, the <paramref name="counts"/>[column tile] lowest-scored column vectors (true = pruned), [row tiles, K].</summary>
    public static Tensor BalancedPrune(Tensor vectorScores, TileGrid grid, long[] counts)
    {
        long rows = vectorScores.shape[0], cols = grid.ColTiles * grid.TileCols;
        // Padding columns score +inf so they rank after every real column of the partial last tile.
        var padded = nn.functional.pad(vectorScores, new long[] { 0, cols - grid.K }, value: double.PositiveInfinity)
                                  .reshape(rows, grid.ColTiles, grid.TileCols);
        var rank = padded.sort(2, false, true).Indices.argsort(2);
        var q = torch.tensor(counts, device: vectorScores.device).reshape(1, grid.ColTiles, 1);
        return rank.lt(q).reshape(rows, cols).slice(1, 0, grid.K, 1);
    }
}
