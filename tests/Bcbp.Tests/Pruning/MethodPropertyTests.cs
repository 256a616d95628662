using Bcbp.Training.Config;
using Bcbp.Training.Pruning.Methods;
using Bcbp.Training.Pruning.Report;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Pruning;

/// <summary>Invariants of the pure mask functions on random matrices of conv/linear shapes.</summary>
public class MethodPropertyTests
{
    [OneTimeSetUp] public void Init() => PruningTestData.Init();

    // (M, K) of typical conv (out, in*3*3) and linear layers.
    static readonly (long M, long K)[] Shapes = { (16, 144), (32, 288), (64, 576), (128, 64), (48, 27) };
    static readonly double[] Sparsities = { 0.0, 0.3, 0.5, 0.75, 0.9 };

    static Tensor Mask(IPruningMethod method, Tensor w, double s, Tensor? prev = null) =>
        method.ComputeMasks(new[] { new PruneTarget(w, s, prev) })[0];

    [Test]
    public void BcbpPrunesTheSameNumberOfColumnVectorsInEveryTileAndHitsTheSparsity()
    {
        int seed = 0;
        foreach (var (m, k) in Shapes.Where(s => s.M % 16 == 0))
        foreach (var s in Sparsities)
        foreach (var (tr, tc) in new[] { (16, 0), (8, 0), (16, 16) })
        {
            var w = PruningTestData.Matrix(m, k, seed++);
            var method = new BcbpMethod(tr, tc, RemainderRule.OwnTile);
            var mask = Mask(method, w, s);
            var grid = TileGrid.For(m, k, tr, tc, RemainderRule.OwnTile);
            // Whole column vectors: within a row tile every column is all kept or all pruned.
            var perVector = UnitPooling.SumPerUnit(mask, grid.TileRows, 1);
            Assert.That(perVector.eq(0).logical_or(perVector.eq(grid.TileRows)).all().item<bool>(), $"{m}x{k} s={s}: mask is not column vectors");
            var stats = TileStats.Compute(mask, tr, tc);
            var full = Enumerable.Range(0, (int)grid.Count).Where(i => grid.Col(i % grid.ColTiles).Width == grid.TileCols).Select(i => stats.KeptColumns[i]).Distinct().ToArray();
            Assert.That(full, Has.Length.EqualTo(1), $"{m}x{k} s={s} tile {tr}x{tc}: kept columns differ across tiles");
            long q = (long)Math.Round(s * grid.TileCols, MidpointRounding.AwayFromZero);
            Assert.That(full[0], Is.EqualTo(grid.TileCols - q));
            if (k % grid.TileCols == 0)
            {
                double achieved = (double)PruningTestData.Zeros(mask) / mask.numel();
                Assert.That(achieved, Is.EqualTo(s).Within(0.5 / grid.TileCols + 1e-12), $"{m}x{k} s={s}");
                Assert.That(stats.Wit, Is.EqualTo(1.0).Within(1e-6));
            }
        }
    }

    [Test]
    public void BcbpPartialLastColumnTilePrunesItsProportionalShare()
    {
        // K = 27 with tile_cols 8: tiles of width 8, 8, 8 and 3; at 50% full tiles prune 4, the partial one round(1.5) = 2.
        var w = PruningTestData.Matrix(32, 27, 9);
        var mask = Mask(new BcbpMethod(16, 8, RemainderRule.OwnTile), w, 0.5);
        Assert.That(TileStats.Compute(mask, 16, 8).KeptColumns, Is.EqualTo(new long[] { 4, 4, 4, 1, 4, 4, 4, 1 }));
        Assert.That(Assert.Throws<ArgumentException>(() => Mask(new BcbpMethod(16, 8), w, 0.5))!.Message, Does.Contain("prune.tile_cols = 8"));
    }

    [Test]
    public void BcbpPrunesTheLowestNormColumnVectorsOfEachTile()
    {
        // Two tiles of 2 rows, K = 4; column norms per tile are chosen so the answer is known.
        var w = torch.tensor(new float[] {
            1, 5, 3, 0.1f,
            1, 5, 3, 0.1f,
            9, 0.2f, 0.3f, 7,
            9, 0.2f, 0.3f, 7 }).reshape(4, 4);
        var mask = Mask(new BcbpMethod(2, 0), w, 0.5);
        Assert.That(mask.data<float>().ToArray(), Is.EqualTo(new float[] {
            0, 1, 1, 0,
            0, 1, 1, 0,
            1, 0, 0, 1,
            1, 0, 0, 1 }));
    }

    [Test]
    public void FilterPrunesWholeRowsOnlyAndTheLowestL1Rows()
    {
        int seed = 100;
        foreach (var (m, k) in Shapes)
        foreach (var s in Sparsities)
        {
            var w = PruningTestData.Matrix(m, k, seed++);
            var mask = Mask(new FilterMethod(), w, s);
            var rowSums = mask.sum(1);
            Assert.That(rowSums.eq(0).logical_or(rowSums.eq(k)).all().item<bool>(), "filter pruned a partial row");
            long prunedRows = rowSums.eq(0).sum().item<long>();
            Assert.That(prunedRows, Is.EqualTo((long)Math.Round(s * m, MidpointRounding.AwayFromZero)).Within(0), $"{m}x{k} s={s}");
            if (prunedRows > 0 && prunedRows < m)
            {
                var l1 = w.abs().sum(1);
                Assert.That(l1.masked_select(rowSums.eq(0)).max().item<float>(),
                            Is.LessThanOrEqualTo(l1.masked_select(rowSums.gt(0)).min().item<float>()));
            }
        }
    }

    [Test]
    public void UnstructuredPrunesExactlyRoundSparsityTimesWeightsByMagnitude()
    {
        int seed = 200;
        foreach (var (m, k) in Shapes)
        foreach (var s in Sparsities)
        {
            var w = PruningTestData.Matrix(m, k, seed++);
            var mask = Mask(new UnstructuredMethod(), w, s);
            Assert.That(PruningTestData.Zeros(mask), Is.EqualTo((long)Math.Round(s * m * k, MidpointRounding.AwayFromZero)));
            if (s > 0)
                Assert.That(w.abs().masked_select(mask.eq(0)).max().item<float>(),
                            Is.LessThanOrEqualTo(w.abs().masked_select(mask.eq(1)).min().item<float>()));
        }
    }

    [Test]
    public void BlockPrunesWholeBlocksWithinHalfABlockOfTheTarget()
    {
        int seed = 300;
        foreach (var (m, k) in Shapes)
        foreach (var s in Sparsities)
        {
            var w = PruningTestData.Matrix(m, k, seed++);
            var mask = Mask(new BlockMethod(4, 8), w, s);
            var perBlock = UnitPooling.SumPerUnit(mask, 4, 8);
            var sizes = UnitPooling.Sizes(m, k, 4, 8, mask.device);
            Assert.That(perBlock.eq(0).logical_or(perBlock.eq(sizes)).all().item<bool>(), "block pruned a partial block");
            double achieved = (double)PruningTestData.Zeros(mask) / (m * k);
            Assert.That(achieved, Is.EqualTo(s).Within(32.0 / 2 / (m * k) + 1e-12), $"{m}x{k} s={s}");
        }
    }

    [Test]
    public void BlockIsUnbalancedAndBcbpBalancedOnSkewedWeights()
    {
        var w = PruningTestData.Skewed(64, 144, tileRows: 16, seed: 7);
        var block = TileStats.Compute(Mask(new BlockMethod(4, 4), w, 0.5), 16, 0);
        var bcbp = TileStats.Compute(Mask(new BcbpMethod(16, 0), w, 0.5), 16, 0);
        Assert.That(block.KeptColumns.Distinct().Count(), Is.GreaterThan(1), "block kept the same columns in every tile");
        Assert.That(block.Wit, Is.GreaterThan(1.5));
        Assert.That(bcbp.KeptColumns.Distinct().ToArray(), Is.EqualTo(new long[] { 72 }));
        Assert.That(bcbp.Wit, Is.EqualTo(1.0).Within(1e-6));
    }

    [Test]
    public void NmKeepsAtMostNOfEveryMConsecutiveWeights()
    {
        int seed = 400;
        foreach (var (n, mm) in new[] { (2, 4), (1, 4), (4, 8) })
        foreach (var (m, k) in Shapes.Where(s => s.K % 8 == 0))
        {
            var w = PruningTestData.Matrix(m, k, seed++);
            double s = 1.0 - (double)n / mm;
            var mask = Mask(new NmMethod(n, mm), w, s);
            var perGroup = mask.reshape(m, k / mm, mm).sum(2);
            Assert.That(perGroup.eq(n).all().item<bool>(), $"{n}:{mm} broken in {m}x{k}");
            // The kept ones are the n largest of each group.
            var a = w.abs().reshape(m, k / mm, mm);
            var g = mask.reshape(m, k / mm, mm);
            var keptMin = a.masked_fill(g.eq(0), double.PositiveInfinity).amin(2);
            var prunedMax = a.masked_fill(g.eq(1), double.NegativeInfinity).amax(2);
            Assert.That(prunedMax.le(keptMin).all().item<bool>());
        }
    }

    [Test]
    public void NmRampAppliesTheRatioToWholeGroupsAndLeavesAPartialGroupDense()
    {
        var w = PruningTestData.Matrix(8, 27, 5); // 6 groups of 4 per row, 3 columns left over
        var half = Mask(new NmMethod(), w, 0.25);
        var groups = half.slice(1, 0, 24, 1).reshape(8, 6, 4).sum(2);
        Assert.That(groups.eq(2).sum().item<long>(), Is.EqualTo(24), "half of the 48 groups should be 2:4");
        Assert.That(groups.eq(4).sum().item<long>(), Is.EqualTo(24));
        Assert.That(half.slice(1, 24, 27, 1).eq(1).all().item<bool>(), "the partial group must stay dense");
        var full = Mask(new NmMethod(), w, 0.5, half);
        Assert.That(full.slice(1, 0, 24, 1).reshape(8, 6, 4).sum(2).eq(2).all().item<bool>());
        Assert.That(full.le(half).all().item<bool>(), "nm mask shrank a pruned group back");
    }

    [Test]
    public void GlobalScopePrunesTheTotalAcrossLayersUnevenly()
    {
        var a = PruningTestData.Matrix(32, 144, 1);
        var b = PruningTestData.Matrix(32, 288, 2) * 4; // much larger weights: pruned less under a global ranking
        var targets = new[] { new PruneTarget(a, 0.5), new PruneTarget(b, 0.5) };
        foreach (IPruningMethod method in new IPruningMethod[] { new UnstructuredMethod(), new BcbpMethod(16, 0), new BlockMethod(4, 4), new FilterMethod() })
        {
            var masks = method.ComputeMasks(targets, global: true);
            double total = (PruningTestData.Zeros(masks[0]) + PruningTestData.Zeros(masks[1])) / (double)(a.numel() + b.numel());
            double sa = PruningTestData.Zeros(masks[0]) / (double)a.numel(), sb = PruningTestData.Zeros(masks[1]) / (double)b.numel();
            Assert.That(total, Is.EqualTo(0.5).Within(0.02), method.Method.ToString());
            Assert.That(sa, Is.GreaterThan(sb + 0.2), $"{method.Method}: the weak layer should be pruned more");
            if (method is BcbpMethod)
                foreach (var mk in masks)
                    Assert.That(TileStats.Compute(mk, 16, 0).Wit, Is.EqualTo(1.0).Within(1e-6), "bcbp global must stay balanced per layer");
        }
    }

    [Test]
    public void MasksOnlyGrowAndStillHitTheTargetWhenWeightsChange()
    {
        foreach (IPruningMethod method in new IPruningMethod[] { new BcbpMethod(16, 0), new FilterMethod(), new BlockMethod(4, 4), new UnstructuredMethod(), new NmMethod() })
        {
            Tensor? prev = null;
            int seed = 500;
            foreach (var s in new[] { 0.1, 0.2, 0.35, 0.5 })
            {
                // Fresh weights each update: the new ranking disagrees with the old one, old units must stay pruned.
                var w = PruningTestData.Matrix(64, 144, seed++) * (prev ?? torch.ones(64, 144));
                var mask = Mask(method, w, s, prev);
                if (prev is not null) Assert.That(mask.le(prev).all().item<bool>(), $"{method.Method}: a pruned weight came back at s={s}");
                double achieved = (double)PruningTestData.Zeros(mask) / mask.numel();
                Assert.That(achieved, Is.EqualTo(s).Within(1.0 / 64), $"{method.Method} s={s}");
                prev = mask;
            }
        }
    }

    [Test]
    public void WitIsMaxOverMeanOfKeptWork()
    {
        // Two row tiles of 2 rows, K = 4: tile 0 keeps 8 weights, tile 1 keeps 2 => max 8 / mean 5 = 1.6.
        var mask = torch.tensor(new float[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0 }).reshape(4, 4);
        var stats = TileStats.Compute(mask, 2, 0);
        Assert.That(stats.Wit, Is.EqualTo(1.6).Within(1e-6));
        Assert.That(stats.KeptColumns, Is.EqualTo(new long[] { 4, 1 }));
    }

    [Test]
    public void ReportAndPackedFormatShareOneWit()
    {
        // Block masks leave row tiles with different kept columns; the report's wit on a 16 x all-K grid is the packed
        // matrix's wit at tile_rows 16 (one definition, TileBalance), including a partial last row tile.
        var w = PruningTestData.Skewed(72, 144, tileRows: 16, seed: 3);
        var mask = Mask(new BlockMethod(4, 4), w, 0.6);
        var packed = Bcbp.Kernels.Formats.BlockSparseMatrix.Pack(w, mask, 16);
        var stats = TileStats.Compute(mask, 16, 0);
        Assert.That(stats.Wit, Is.GreaterThan(1.0));
        Assert.That(stats.Wit, Is.EqualTo(packed.Wit).Within(1e-6));
        Assert.That(stats.KeptColumns, Is.EqualTo(Enumerable.Range(0, packed.Tiles).Select(t => packed.Count(t)).ToArray()));
    }
}
