using System.Text;
using static Bcbp.Training.Reports.ReportFormat;

namespace Bcbp.Training.Reports;

/// <summary>Renders a <see cref="SuiteReport"/> as Markdown in the paper's layout: one table per model x dataset
/// with the dense top-1, then per method and sparsity the top-1 and its change from dense, the sparsity reached, the
/// FLOPs and parameters kept and the measured speedup; then the provenance of every run.</summary>
public static class ReportMarkdown
{
    public static string Render(SuiteReport report)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# {report.Title}").AppendLine();
        if (report.Description.Length > 0) sb.AppendLine(report.Description).AppendLine();
        sb.AppendLine($"Source: `{report.Source}` ({report.Rows.Count} runs). FLOPs = multiply-accumulates of Conv2d/Linear " +
                      "layers per image with masked weights removed (batch norm, activations, pooling and additions not counted); " +
                      "parameters = Conv2d/Linear weights + biases. Sparsity = share of pruned weights in the prunable layers. " +
                      "WIT = the largest per-layer workload imbalance among tiles (max / mean kept work per tile; 1.000 = balanced). " +
                      "Speedup = masked dense / sparse inference time of the run's own model on our CUDA kernels (bcbp sparse --run, or bcbp suite --sparse-eval), else from kernel benchmark files; '-' where not measured.").AppendLine();
        foreach (var group in report.Groups)
        {
            var dense = group.FirstOrDefault(r => r.IsDense);
            var denseTop1 = dense?.Top1 ?? group.Select(r => r.DenseTop1).FirstOrDefault(d => d is not null);
            sb.AppendLine($"## {group.Key.Model} on {group.Key.Dataset}" + (denseTop1 is { } d ? $" (dense top-1 {Number(d)}%)" : ""));
            sb.AppendLine();
            sb.AppendLine("| Method | Unit | Target sparsity | Achieved sparsity | Top-1 (%) | Δ top-1 | FLOPs kept | Params kept | WIT (max) | Speedup |");
            sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in group)
            {
                sb.Append($"| {r.Method} | {r.Unit} | ")
                  .Append(r.IsDense ? "- | - | " : $"{Percent(r.TargetSparsity)} | {Percent(r.AchievedSparsity)} | ")
                  .Append($"{Number(r.Top1)} | {(r.IsDense || r.Top1Delta is null ? "-" : Signed(r.Top1Delta.Value))} | ")
                  .Append(r.KeptMacs is { } m ? $"{Count(m)} ({Percent(r.FlopsKept!.Value)}) | " : "- | ")
                  .Append(r.KeptParams is { } p ? $"{Count(p)} ({Percent(r.ParamsKept!.Value)}) | " : "- | ")
                  .Append(r.WitMax is { } w ? $"{Number(w, 3)} | " : "- | ")
                  .AppendLine(r.Speedup is { } s ? $"{Number(s)}x |" : "- |");
            }
            sb.AppendLine();
        }
        sb.AppendLine("## Provenance").AppendLine();
        sb.AppendLine("| Run | Commit | Machine | Device | Finished (UTC) | Config hash | Train time |");
        sb.AppendLine("|---|---|---|---|---|---|---:|");
        foreach (var r in report.Rows)
            sb.AppendLine($"| {r.Cell} | {Short(r.Commit)} | {r.Machine} | {r.Device} | {r.FinishedUtc:yyyy-MM-dd HH:mm} | " +
                          $"{Short(r.ConfigHash)} | {Duration(r.TrainSeconds)} |");
        return sb.ToString();
    }

    static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash.Length == 0 ? "-" : hash;
}
