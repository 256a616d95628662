using Bcbp.Models.IO;
using System.Text.Json;
using Bcbp.Training.Json;

namespace Bcbp.Training.Reports;

/// <summary>Writes every view of a report into one folder: report.md, report.csv, report.json and the PNG plots.</summary>
public static class ReportWriter
{
    public static IReadOnlyList<string> Write(SuiteReport report, string dir)
    {
        Directory.CreateDirectory(dir);
        var md = Path.Combine(dir, "report.md");
        var csv = Path.Combine(dir, "report.csv");
        var json = Path.Combine(dir, "report.json");
        AtomicFile.WriteAllText(md, ReportMarkdown.Render(report));
        AtomicFile.WriteAllText(csv, ReportCsv.Render(report));
        AtomicFile.WriteAllText(json, JsonSerializer.Serialize(report, OutputJson.Options));
        return new[] { md, csv, json }.Concat(ReportPlots.Write(report, dir)).ToList();
    }
}
