namespace Bcbp.Training.Suites;

/// <summary>What a suite says about one of its run folders (<c>suite_cell.json</c>, written when the cell finishes):
/// where the cell sits in the grid, and the stamp of the config it ran, so a later suite run can tell a finished
/// cell whose config has since changed.</summary>
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
    public string? DenseCell { get; init; }
    /// <summary>SHA-256 of the cell's config and <c>--set</c> overrides as the suite composed them.</summary>
    public required string ConfigStamp { get; init; }
}
