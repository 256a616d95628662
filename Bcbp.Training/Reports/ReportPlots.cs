using Bcbp.Models.IO;
using ScottPlot;

namespace Bcbp.Training.Reports;

/// <summary>PNG views of a <see cref="SuiteReport"/> (ScottPlot 5): top-1 vs achieved sparsity per method for each
/// model x dataset, with the dense top-1 as a dashed line; and, where a kernel benchmark was given, speedup vs
/// sparsity per method.</summary>
public static class ReportPlots
{
    const int Width = 900, Height = 560;
    static readonly Color[] Palette =
    {
        Color.FromHex("#1f77b4"), Color.FromHex("#d62728"), Color.FromHex("#2ca02c"), Color.FromHex("#ff7f0e"),
        Color.FromHex("#9467bd"), Color.FromHex("#8c564b"), Color.FromHex("#e377c2"),
    };
    static readonly MarkerShape[] Markers =
        { MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.OpenCircle };

    /// <summary>Writes the plots into <paramref name="dir"/> and returns their paths.</summary>
    public static IReadOnlyList<string> Write(SuiteReport report, string dir)
    {
        Directory.CreateDirectory(dir);
        var files = new List<string>();
        foreach (var group in report.Groups)
        {
            var rows = group.ToList();
            var path = Path.Combine(dir, $"accuracy_vs_sparsity_{group.Key.Model}_{group.Key.Dataset}.png");
            Save(AccuracyPlot(group.Key.Model, group.Key.Dataset, rows), path);
            files.Add(path);
        }
        var measured = report.Rows.Where(r => r.Speedup is not null).ToList();
        if (measured.Count > 0)
        {
            var path = Path.Combine(dir, "speedup_vs_sparsity.png");
            Save(SpeedupPlot(measured, report.Groups.Count() > 1), path);
            files.Add(path);
        }
        return files;
    }

    static Plot AccuracyPlot(string model, string dataset, IReadOnlyList<ReportRow> rows)
    {
        var plot = new Plot();
        var pruned = rows.Where(r => !r.IsDense).ToList();
        int i = 0;
        foreach (var series in pruned.GroupBy(SeriesName))
        {
            var points = series.OrderBy(r => r.AchievedSparsity).ToList();
            var line = plot.Add.Scatter(points.Select(r => r.AchievedSparsity * 100).ToArray(), points.Select(r => r.Top1).ToArray());
            Style(line, series.Key, i++);
            foreach (var r in points)
            {
                var label = plot.Add.Text($"{r.Top1:F1}", r.AchievedSparsity * 100, r.Top1);
                label.LabelFontSize = 12;
                label.LabelFontColor = line.Color;
                // Right of the point: labels of methods with close accuracies stay apart.
                label.LabelAlignment = Alignment.MiddleLeft;
                label.OffsetX = 9;
            }
        }
        var dense = rows.FirstOrDefault(r => r.IsDense)?.Top1 ?? rows.Select(r => r.DenseTop1).FirstOrDefault(d => d is not null);
        if (dense is { } d)
        {
            var h = plot.Add.HorizontalLine(d, 2, Colors.Black, LinePattern.Dashed);
            h.LegendText = $"dense ({d:F2}%)";
        }
        plot.Title($"{model} on {dataset}: top-1 vs sparsity");
        plot.XLabel("achieved sparsity of the prunable layers (%)");
        plot.YLabel("top-1 accuracy (%)");
        var all = pruned.Select(r => r.Top1).Concat(dense is { } dd ? new[] { dd } : Array.Empty<double>()).ToList();
        if (all.Count > 0)
        {
            double lo = all.Min(), hi = all.Max(), pad = Math.Max(0.5, (hi - lo) * 0.15);
            plot.Axes.SetLimitsY(lo - pad, hi + pad);
        }
        if (pruned.Count > 0)
        {
            double lo = pruned.Min(r => r.AchievedSparsity) * 100, hi = pruned.Max(r => r.AchievedSparsity) * 100;
            double pad = Math.Max(3, (hi - lo) * 0.1);
            plot.Axes.SetLimitsX(lo - pad, hi + 1.8 * pad);
        }
        plot.ShowLegend(Alignment.LowerLeft);
        return plot;
    }

    static Plot SpeedupPlot(IReadOnlyList<ReportRow> rows, bool nameModels)
    {
        var plot = new Plot();
        int i = 0;
        foreach (var series in rows.GroupBy(r => (nameModels ? $"{r.Model} " : "") + SeriesName(r)))
        {
            var points = series.OrderBy(r => r.TargetSparsity).ToList();
            var line = plot.Add.Scatter(points.Select(r => r.TargetSparsity * 100).ToArray(), points.Select(r => r.Speedup!.Value).ToArray());
            Style(line, series.Key, i++);
        }
        var one = plot.Add.HorizontalLine(1, 2, Colors.Black, LinePattern.Dashed);
        one.LegendText = "dense (1.0x)";
        plot.Title("Sparse inference speedup vs sparsity");
        plot.XLabel("target sparsity (%)");
        plot.YLabel("speedup over dense (x)");
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    static string SeriesName(ReportRow r) => r.TileRows is { } t ? $"{r.Method} (tile {t})" : r.Method;

    static void Style(ScottPlot.Plottables.Scatter line, string label, int index)
    {
        line.LegendText = label;
        line.Color = Palette[index % Palette.Length];
        line.LineWidth = 2.5f;
        line.MarkerSize = 10;
        line.MarkerShape = Markers[index % Markers.Length];
    }

    static void Save(Plot plot, string path)
    {
        plot.Axes.Title.Label.FontSize = 20;
        plot.Axes.Bottom.Label.FontSize = 16;
        plot.Axes.Left.Label.FontSize = 16;
        plot.Legend.FontSize = 14;
        AtomicFile.WriteFile(path, tmp => plot.SavePng(tmp, Width, Height));
    }
}
