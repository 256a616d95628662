using System.Text;
using static Bcbp.Training.Reports.ReportFormat;

namespace Bcbp.Training.Reports;

/// <summary>Renders a <see cref="SuiteReport"/> as CSV: one line per run, ratios in [0, 1], empty where unknown.</summary>
public static class ReportCsv
{
    public static readonly string[] Columns =
    {
        "model", "dataset", "cell", "method", "tile_rows", "unit", "target_sparsity", "achieved_sparsity", "top1", "top5",
        "dense_top1", "top1_delta", "macs", "kept_macs", "flops_kept", "params", "kept_params", "params_kept", "speedup", "speedup_over_best_pytorch", "rule_failing", "rule_samples", "wit_max",
        "train_seconds", "device", "machine", "commit", "finished_utc", "config_hash",
    };

    public static string Render(SuiteReport report)
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(",", Columns));
        foreach (var r in report.Rows)
        {
            var fields = new[]
            {
                r.Model, r.Dataset, r.Cell, r.Method, r.TileRows?.ToString() ?? "", r.Unit, Csv(r.TargetSparsity), Csv(r.AchievedSparsity),
                Csv(r.Top1), Csv(r.Top5), Csv(r.DenseTop1), Csv(r.Top1Delta), r.Macs?.ToString() ?? "", r.KeptMacs?.ToString() ?? "",
                Csv(r.FlopsKept), r.Params?.ToString() ?? "", r.KeptParams?.ToString() ?? "", Csv(r.ParamsKept), Csv(r.Speedup), Csv(r.SpeedupOverBest),
                r.Rule?.Failing.ToString() ?? "", r.Rule?.Samples.ToString() ?? "", Csv(r.WitMax),
                Csv(r.TrainSeconds), r.Device, r.Machine, r.Commit, r.FinishedUtc.ToString("o"), r.ConfigHash,
            };
            sb.AppendLine(string.Join(",", fields.Select(Quote)));
        }
        return sb.ToString();
    }

    /// <summary>RFC 4180 quoting where a field holds a comma, quote or line break.</summary>
    static string Quote(string field)
        => field.IndexOfAny(new[] { ',', '"', '\n', '\r' }) >= 0 ? "\"" + field.Replace("\"", "\"\"") + "\"" : field;
}
