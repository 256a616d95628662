using System.Text.Json.Serialization;

namespace Bcbp.Training.Reports;

/// <summary>The comparison report of a set of runs (results.json is the source; Markdown, CSV, JSON and PNG are
/// views of it): per model x dataset, the dense row then every pruning row, method by method, sparsity ascending.</summary>
public sealed record SuiteReport
{
    public required string Title { get; init; }
    public string Description { get; init; } = "";
    /// <summary>Folder the runs were read from.</summary>
    public required string Source { get; init; }
    public required IReadOnlyList<ReportRow> Rows { get; init; }

    /// <summary>Rows grouped by (model, dataset), in row order.</summary>
    [JsonIgnore]
    public IEnumerable<IGrouping<(string Model, string Dataset), ReportRow>> Groups => Rows.GroupBy(r => (r.Model, r.Dataset));

    /// <summary>Builds the rows of <paramref name="records"/>. <paramref name="methodOrder"/> orders methods (others
    /// follow alphabetically). Runs without suite cell info are grouped under the model and dataset "-".</summary>
    public static SuiteReport Build(string title, string source, IEnumerable<RunRecord> records, SpeedupTable speedups,
                                    IReadOnlyList<string>? methodOrder = null, string description = "")
    {
        var rows = records.Select(r => ToRow(r, speedups)).ToList();
        // Drop from dense: against the group's dense run, else the dense top-1 the pruning run measured itself.
        var denseTop1 = rows.Where(r => r.IsDense).GroupBy(r => (r.Model, r.Dataset)).ToDictionary(g => g.Key, g => g.First().Top1);
        rows = rows.Select(r =>
        {
            double? dense = denseTop1.TryGetValue((r.Model, r.Dataset), out var d) ? d : r.DenseTop1;
            return r with { DenseTop1 = dense, Top1Delta = r.Top1 - dense };
        }).ToList();

        int MethodRank(string m) => m == "dense" ? -1 : methodOrder?.ToList().IndexOf(m) is >= 0 and var i ? i : int.MaxValue;
        var ordered = rows
            .OrderBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => r.Dataset, StringComparer.Ordinal)
            .ThenBy(r => MethodRank(r.Method)).ThenBy(r => r.Method, StringComparer.Ordinal)
            .ThenBy(r => r.TargetSparsity).ThenBy(r => r.TileRows ?? 0).ThenBy(r => r.Cell, StringComparer.Ordinal)
            .ToList();
        return new SuiteReport { Title = title, Source = source, Rows = ordered, Description = description };
    }

    static ReportRow ToRow(RunRecord record, SpeedupTable speedups)
    {
        var r = record.Result;
        var info = record.Info;
        string model = info?.Model ?? "-";
        string method = r.Method ?? info?.Method ?? "dense";
        double target = r.TargetSparsity ?? info?.Sparsity ?? 0;
        return new ReportRow
        {
            Model = model,
            Dataset = info?.Dataset ?? "-",
            Cell = info?.Cell ?? Path.GetFileName(record.Dir),
            Method = method,
            TileRows = info?.TileRows,
            Unit = record.Unit,
            TargetSparsity = target,
            AchievedSparsity = r.AchievedSparsity ?? 0,
            Top1 = r.Top1,
            Top5 = r.Top5,
            DenseTop1 = r.DenseTop1,
            Macs = record.Cost?.Macs,
            KeptMacs = record.Cost?.KeptMacs,
            Params = record.Cost?.Params,
            KeptParams = record.Cost?.KeptParams,
            Speedup = method == "dense" ? null : record.MeasuredSpeedup ?? speedups.Find(model, method, target),
            WitMax = record.WitMax,
            TrainSeconds = r.TrainSeconds,
            Device = r.Device,
            Machine = r.Machine,
            Commit = r.Commit,
            FinishedUtc = r.FinishedUtc,
            ConfigHash = r.ConfigHash,
        };
    }
}
