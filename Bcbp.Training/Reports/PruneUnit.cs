using System.Text.Json.Nodes;
using Bcbp.Training.Config;
using Bcbp.Training.Pruning.Methods;

namespace Bcbp.Training.Reports;

/// <summary>The pruning unit of a run in the report's words (<see cref="PruningMethodInfo.Unit"/>), read from the run's
/// resolved config (<c>config.json</c>): <c>16x1</c> (a bcbp column vector of a 16-row tile), <c>4x4</c> (a block),
/// <c>row</c> (a filter), <c>1x1</c> (a weight), <c>2:4</c>; <c>-</c> for a dense run or an unknown method.</summary>
public static class PruneUnit
{
    /// <summary>Describes the unit of the <c>prune</c> section <paramref name="prune"/> (null: dense).</summary>
    public static string Describe(JsonObject? prune)
    {
        if (prune is null || !ConfigNames.TryParse(prune["method"]?.GetValue<string>(), out PruneMethod method)) return "-";
        int Int(string key) => prune[key]?.GetValue<int>() ?? 0;
        var options = new PruneOptions
        {
            TileRows = Int("tile_rows"), TileCols = Int("tile_cols"), BlockRows = Int("block_rows"), BlockCols = Int("block_cols"),
            N = Int("n"), M = Int("m"),
        };
        return PruningMethodInfo.Of(method).Unit(options);
    }
}
