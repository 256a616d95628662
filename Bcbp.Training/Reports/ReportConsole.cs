using System.Text;
using static Bcbp.Training.Reports.ReportFormat;

namespace Bcbp.Training.Reports;

/// <summary>The short view of a report that <c>bcbp suite</c> and <c>bcbp compare</c> print at the end: per model x
/// dataset one line per method and sparsity (top-1, drop from dense, FLOPs kept, largest WIT, and the measured
/// sparse speedup where a run has one), then where the full report and the plots are.</summary>
public static class ReportConsole
{
    public static string Render(SuiteReport report, string dir)
    {
        var sb = new StringBuilder();
        bool speed = report.Summaries.Any(s => s.Speedup is not null);
        foreach (var group in report.Summaries.GroupBy(s => (s.Model, s.Dataset)))
        {
            var trainedOn = group.First().TrainedOn ?? group.Key.Dataset;
            sb.AppendLine($"{group.Key.Model} on {trainedOn}:");
            sb.AppendLine($"  {"method",-13} {"sparsity",8} {"top-1 (%)",-22} {"drop",8} {"FLOPs kept",10} {"WIT max",8}" + (speed ? $" {"speedup",8}" : ""));
            foreach (var s in group)
            {
                string drop = s.IsDense || s.Top1Delta is null ? "-" : Signed(s.Top1Delta.Value) + (s.DeltaWithinNoise == true ? "≈" : "");
                sb.AppendLine($"  {Name(s),-13} {(s.IsDense ? "-" : Percent(s.AchievedSparsity)),8} {ReportMarkdown.Top1(s),-22} {drop,8} " +
                              $"{(s.FlopsKept is { } f ? Percent(f) : "-"),10} {(s.WitMax is { } w ? Number(w, 3) : "-"),8}" +
                              (speed ? $" {(s.Speedup is { } x ? Number(x) + "x" : "-"),8}" : "") +
                              (s.SpeedupOverBest is { } o ? $" ({Number(o)}x {s.BestDense})" : "") + ReportMarkdown.RuleMark(s.Rule));
            }
        }
        if (!speed) sb.AppendLine("  (sparse speedup: measured on a GPU with bcbp suite --sparse-eval and device cuda)");
        sb.AppendLine("  drop = top-1 minus the dense model's; ≈ = within noise; WIT 1.000 = balanced tiles");
        sb.AppendLine($"report: {Path.Combine(dir, "report.md")}");
        foreach (var plot in Directory.Exists(dir) ? Directory.GetFiles(dir, "*.png").Order(StringComparer.Ordinal) : Enumerable.Empty<string>())
            sb.AppendLine($"plot:   {plot}");
        return sb.ToString().TrimEnd();
    }

    static string Name(ReportSummary s) => s.TileRows is { } t ? $"{s.Method} t{t}" : s.Method;
}
