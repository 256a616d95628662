using Bcbp.Training.Config;

namespace Bcbp.Training.Pruning.Methods;

/// <summary>The method parameters of <see cref="PruneConfig"/>, as the pure mask functions take them.</summary>
public sealed record PruneOptions
{
    public int TileRows { get; init; } = 64;
    /// <summary>0 = all of K.</summary>
    public int TileCols { get; init; }
    public RemainderRule Remainder { get; init; } = RemainderRule.Error;
    public int BlockRows { get; init; } = 8;
    public int BlockCols { get; init; } = 8;
    public int N { get; init; } = 2;
    public int M { get; init; } = 4;
    /// <summary>1 (L1 norm) or 2 (L2 norm).</summary>
    public int NormP { get; init; } = 1;

    /// <summary>The options of a validated config.</summary>
    public static PruneOptions From(PruneConfig c) => new()
    {
        TileRows = c.TileRows, TileCols = c.TileCols,
        Remainder = c.RemainderKind,
        BlockRows = c.BlockRows, BlockCols = c.BlockCols, N = c.N, M = c.M,
        NormP = c.ScoreKind == PruneScore.L2 ? 2 : 1,
    };
}
