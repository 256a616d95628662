using Bcbp.Models.IO;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Bcbp.Training.Json;

namespace Bcbp.Training.Pruning.Report;

/// <summary>Writes <c>prune_report.json</c> (the source) and <c>prune_report.md</c> (a view of it), each atomically.</summary>
public static class PruneReportWriter
{
    public const string JsonFile = "prune_report.json";
    public const string MarkdownFile = "prune_report.md";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Writes both files into <paramref name="runDir"/> (created if missing).</summary>
    public static void Write(PruneReport report, string runDir)
    {
        Directory.CreateDirectory(runDir);
        AtomicFile.WriteAllText(Path.Combine(runDir, JsonFile), JsonSerializer.Serialize(report, Json));
        AtomicFile.WriteAllText(Path.Combine(runDir, MarkdownFile), ToMarkdown(report));
    }

    /// <summary>The Markdown table: one row per layer plus the overall line.</summary>
    public static string ToMarkdown(PruneReport r)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(ci, $"# Pruning report: {r.Method}, target sparsity {r.TargetSparsity:0.####}, tile {r.TileRows} x {(r.TileCols == 0 ? "K" : r.TileCols.ToString(ci))}");
        sb.AppendLine();
        sb.AppendLine("| layer | M | K | target | achieved | tiles | kept cols/tile min | max | mean | wit |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var l in r.Layers)
            sb.AppendLine(ci, $"| {l.Name} | {l.M} | {l.K} | {l.TargetSparsity:0.0000} | {l.AchievedSparsity:0.0000} | {l.Tiles} | {l.KeptColumnsMin} | {l.KeptColumnsMax} | {l.KeptColumnsMean:0.##} | {l.Wit:0.000} |");
        sb.AppendLine();
        sb.AppendLine(ci, $"Overall achieved sparsity over the prunable layers: {r.AchievedSparsity:0.0000}");
        if (r.LeftDense.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Left dense:");
            foreach (var l in r.LeftDense) sb.AppendLine(ci, $"- {l.Name}: {l.Reason}");
        }
        return sb.ToString();
    }
}
