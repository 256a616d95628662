namespace Bcbp.Training.Suites;

/// <summary>What a suite says about one of its run folders (<c>suite_cell.json</c>, written when the cell starts):
/// where the cell sits in the grid, and the stamps of the config it ran and of its dense model's config, so a later
/// suite run can tell a cell whose config has since changed (it is rerun) and a report can refuse cells fine-tuned
/// from different dense models.</summary>
public sealed record CellInfo
{
    public const string FileName = "suite_cell.json";

    public required string Suite { get; init; }
    public required string Cell { get; init; }
    public required string Model { get; init; }
    public required string Dataset { get; init; }
    /// <summary>null for the dense cell.</summary>
    public string? Method { get; init; }
    public double? Sparsity { get; init; }
    public int? TileRows { get; init; }
    public int? Seed { get; init; }
    public string? DenseCell { get; init; }
    /// <summary>SHA-256 of the cell's config and <c>--set</c> overrides as the suite composed them (and, for a pruning
    /// cell, of its dense cell's stamp).</summary>
    public required string ConfigStamp { get; init; }
    /// <summary><see cref="ConfigStamp"/> of <see cref="DenseCell"/> when this cell started (null for a dense cell
    /// and for cells of older suites).</summary>
    public string? DenseStamp { get; init; }
}
