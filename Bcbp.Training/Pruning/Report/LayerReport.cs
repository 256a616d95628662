using Bcbp.Training.Pruning.Layers;

namespace Bcbp.Training.Pruning.Report;

/// <summary>One row of the pruning report: what a layer reached.</summary>
public sealed record LayerReport(
    string Name, long M, long K, double TargetSparsity, double AchievedSparsity,
    long Tiles, long KeptColumnsMin, long KeptColumnsMax, double KeptColumnsMean, long[] KeptColumnsPerTile, double Wit);

/// <summary>The whole pruning report (prune_report.json).</summary>
public sealed record PruneReport(
    string Method, double TargetSparsity, double AchievedSparsity, int TileRows, int TileCols, IReadOnlyList<LayerReport> Layers,
    IReadOnlyList<LeftDenseLayer> LeftDense);
