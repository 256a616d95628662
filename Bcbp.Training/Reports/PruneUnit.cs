using System.Text.Json.Nodes;

namespace Bcbp.Training.Reports;

/// <summary>The pruning unit of a run in the report's words, read from the run's resolved config (<c>config.json</c>):
/// <c>16x1</c> (a bcbp column vector of a 16-row tile), <c>4x4</c> (a block), <c>row</c> (a filter), <c>1x1</c>
/// (a weight), <c>2:4</c>; <c>-</c> for a dense run or an unknown method.</summary>
public static class PruneUnit
{
    /// <summary>Describes the unit of the <c>prune</c> section <paramref name="prune"/> (null: dense).</summary>
    public static string Describe(JsonObject? prune)
    {
        if (prune is null) return "-";
        int Int(string key) => prune[key]?.GetValue<int>() ?? 0;
        return prune["method"]?.GetValue<string>() switch
        {
            "bcbp" => $"{Int("tile_rows")}x1" + (Int("tile_cols") > 0 ? $" (tile {Int("tile_rows")}x{Int("tile_cols")})" : ""),
            "block" => $"{Int("block_rows")}x{Int("block_cols")}",
            "filter" => "row",
            "unstructured" => "1x1",
            "nm" => $"{Int("n")}:{Int("m")}",
            _ => "-",
        };
    }

    /// <summary>The unit of the run folder <paramref name="runDir"/>, from its config.json; "-" without one.</summary>
    public static string OfRun(string runDir)
    {
        var path = Path.Combine(runDir, "config.json");
        if (!File.Exists(path)) return "-";
        return Describe(JsonNode.Parse(File.ReadAllText(path))?["prune"] as JsonObject);
    }
}
