using System.Text;
using static Bcbp.Training.Reports.ReportFormat;

namespace Bcbp.Training.Reports;

/// <summary>Renders a <see cref="SuiteReport"/> as Markdown in the paper's layout: one table per model x dataset
/// with the dense top-1, then per method and sparsity the top-1 (mean ± std over seeds), its change from dense and
/// from the best method at that sparsity (≈ = within noise), the sparsity reached, the FLOPs and parameters kept,
/// the largest WIT and the measured speedup; then every run with its provenance and config hashes.</summary>
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
                      "Speedup = masked dense / sparse inference time of the run's own model on our CUDA kernels (bcbp sparse --run, or bcbp suite --sparse-eval: the fastest of the layer-by-layer model, the whole-model plan and, where whole filters were pruned, the physically shrunk model's plan, one that meets the per-image rule first), else from kernel benchmark files; '-' where not measured. " +
                      "vs PyTorch = the run's sparse images/s over the fastest dense PyTorch model of the same architecture and batch (a pytorch_baselines.py file given to --bench). " +
                      "A measured speedup marked (rule: N/M) comes from a path whose outputs were over the per-image pass rule on N of its M test images " +
                      "(relative error against float32 above max(2 x the dense fp16 model's, 1e-3); sparse_eval.json has the counts both ways). " +
                      "Top-1 over several seeds is mean ± sample std (n runs). ≈ marks a difference within noise: under two standard errors " +
                      "of the difference, from the seeds' spread and the test set's sampling error.").AppendLine();
        foreach (var group in report.Summaries.GroupBy(s => (s.Model, s.Dataset)))
        {
            var dense = group.FirstOrDefault(s => s.IsDense);
            var denseTop1 = dense?.Top1 ?? group.Select(s => s.DenseTop1).FirstOrDefault(d => d is not null);
            var trainedOn = group.First().TrainedOn;
            string on = trainedOn is null || trainedOn == group.Key.Dataset ? group.Key.Dataset : $"{trainedOn} (grid: {group.Key.Dataset})";
            sb.AppendLine($"## {group.Key.Model} on {on}" + (denseTop1 is { } d ? $" (dense top-1 {(dense is null ? Number(d) : Top1(dense))}%)" : ""));
            sb.AppendLine();
            bool overBest = group.Any(s => s.SpeedupOverBest is not null);
            sb.AppendLine("| Method | Unit | Target sparsity | Achieved sparsity | Top-1 (%) | Δ top-1 | vs best | FLOPs kept | Params kept | WIT (max) | Speedup |" +
                          (overBest ? " vs PyTorch |" : ""));
            sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + (overBest ? "---:|" : ""));
            foreach (var s in group)
            {
                sb.Append($"| {s.Method} | {s.Unit} | ")
                  .Append(s.IsDense ? "- | - | " : $"{Percent(s.TargetSparsity)} | {Percent(s.AchievedSparsity)} | ")
                  .Append($"{Top1(s)} | {(s.IsDense || s.Top1Delta is null ? "-" : Signed(s.Top1Delta.Value) + Mark(s.DeltaWithinNoise))} | ")
                  .Append(s.VsBest is not { } vb ? "- | " : vb == 0 && s.VsBestWithinNoise is null ? "best | " : Signed(vb) + Mark(s.VsBestWithinNoise) + " | ")
                  .Append(s.KeptMacs is { } m ? $"{Count(m)} ({Percent(s.FlopsKept!.Value)}) | " : "- | ")
                  .Append(s.KeptParams is { } p ? $"{Count(p)} ({Percent(s.ParamsKept!.Value)}) | " : "- | ")
                  .Append(s.WitMax is { } w ? $"{Number(w, 3)} | " : "- | ")
                  .Append(s.Speedup is { } x ? $"{Number(x)}x{RuleMark(s.Rule)} |" : "- |")
                  .AppendLine(!overBest ? "" : s.SpeedupOverBest is { } o ? $" {Number(o)}x ({s.BestDense}) |" : " - |");
            }
            sb.AppendLine();
        }
        sb.AppendLine("## Runs and provenance").AppendLine();
        sb.AppendLine("| Run | Seed | Top-1 (%) | Commit | Machine | Device | Finished (UTC) | Config hash | Cell stamp | Train time |");
        sb.AppendLine("|---|---:|---:|---|---|---|---|---|---|---:|");
        foreach (var r in report.Rows)
            sb.AppendLine($"| {r.Cell} | {(r.Seed is { } seed ? seed.ToString() : "-")} | {Number(r.Top1)} | {Short(r.Commit)} | {r.Machine} | {r.Device} | " +
                          $"{r.FinishedUtc:yyyy-MM-dd HH:mm} | {Short(r.ConfigHash)} | {Short(r.CellStamp)} | {Duration(r.TrainSeconds)} |");
        return sb.ToString();
    }

    /// <summary>"84.08", or "84.08 ± 0.21 (n=3)" over several seeds.</summary>
    public static string Top1(ReportSummary s) => s.Top1Std is { } sd ? $"{Number(s.Top1)} ± {Number(sd)} (n={s.Runs})" : Number(s.Top1);

    static string Mark(bool? withinNoise) => withinNoise == true ? " ≈" : "";

    /// <summary>" (rule: 12/2000)" when the measured path's outputs were over the per-image rule on some images.</summary>
    public static string RuleMark(SparseRule? rule) => rule is { Passed: false } r ? $" (rule: {r.Failing}/{r.Samples})" : "";

    static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash.Length == 0 ? "-" : hash;
}
