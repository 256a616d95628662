using Bcbp.Training.Plots;
using ScottPlot;

namespace Bcbp.Training.Reports;

/// <summary>Plot views of a <see cref="SuiteReport"/> (ScottPlot 5, PNG + SVG, the shipped font): top-1 vs achieved
/// sparsity per method for each model x dataset (mean over seeds), with the dense top-1 as a dashed line; and, where
/// a speedup was measured, speedup vs sparsity per method. A method has the same colour in every plot
/// (<see cref="PlotTheme.ColorOf"/>); value labels are pushed apart so they never overlap; legends sit outside the data.</summary>
public static class ReportPlots
{
    const int Width = 1000, Height = 560;
    /// <summary>Approximate height of the data area and of one value label, in pixels (for spacing labels).</summary>
    const double DataAreaPixels = 420, LabelPixels = 17;
    static readonly LinePattern[] TilePatterns = { LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed };

    /// <summary>Writes the plots into <paramref name="dir"/> and returns their paths (each PNG, then its SVG).</summary>
    public static IReadOnlyList<string> Write(SuiteReport report, string dir)
    {
        Directory.CreateDirectory(dir);
        var files = new List<string>();
        foreach (var group in report.Summaries.GroupBy(s => (s.Model, s.Dataset)))
        {
            var path = Path.Combine(dir, $"accuracy_vs_sparsity_{group.Key.Model}_{group.Key.Dataset}.png");
            files.AddRange(PlotTheme.Save(AccuracyPlot(group.Key.Model, group.First().TrainedOn ?? group.Key.Dataset, group.ToList()), path, Width, Height));
        }
        var measured = report.Summaries.Where(s => s.Speedup is not null).ToList();
        if (measured.Count > 0)
            files.AddRange(PlotTheme.Save(SpeedupPlot(measured), Path.Combine(dir, "speedup_vs_sparsity.png"), Width, Height));
        foreach (var group in report.Summaries.GroupBy(s => (s.Model, s.Dataset)))
            if (group.Any(s => !s.IsDense && (s.SpeedupOverBest ?? s.Speedup) is not null))
                files.AddRange(PlotTheme.Save(TradeOffPlot(group.Key.Model, group.First().TrainedOn ?? group.Key.Dataset, group.ToList()),
                    Path.Combine(dir, $"accuracy_vs_speedup_{group.Key.Model}_{group.Key.Dataset}.png"), Width, Height));
        return files;
    }

    static Plot AccuracyPlot(string model, string trainedOn, IReadOnlyList<ReportSummary> rows)
    {
        var plot = PlotTheme.NewPlot();
        var pruned = rows.Where(r => !r.IsDense).ToList();
        var dense = rows.FirstOrDefault(r => r.IsDense)?.Top1 ?? rows.Select(r => r.DenseTop1).FirstOrDefault(d => d is not null);
        var tiles = pruned.Select(r => r.TileRows).Distinct().ToList();
        foreach (var series in pruned.GroupBy(r => (r.Method, r.TileRows)))
        {
            var points = series.OrderBy(r => r.AchievedSparsity).ToList();
            var line = plot.Add.Scatter(points.Select(r => r.AchievedSparsity * 100).ToArray(), points.Select(r => r.Top1).ToArray());
            Style(line, SeriesName(series.Key.Method, series.Key.TileRows, tiles.Count > 1), series.Key.Method, TilePatterns[tiles.IndexOf(series.Key.TileRows) % TilePatterns.Length]);
            if (points.Any(p => p.Top1Std is not null))
            {
                var bars = plot.Add.ErrorBar(points.Select(r => r.AchievedSparsity * 100).ToArray(), points.Select(r => r.Top1).ToArray(),
                                             points.Select(r => r.Top1Std ?? 0).ToArray());
                bars.Color = line.Color;
            }
        }
        if (dense is { } d)
        {
            var h = plot.Add.HorizontalLine(d, 2, Colors.Black, LinePattern.Dashed);
            h.LegendText = $"dense ({d:F2}%)";
        }
        var all = pruned.Select(r => r.Top1).Concat(dense is { } dd ? new[] { dd } : Array.Empty<double>()).ToList();
        (double lo, double hi) y = all.Count > 0 ? (all.Min(), all.Max()) : (0, 100);
        double pad = Math.Max(0.5, (y.hi - y.lo) * 0.15);
        plot.Axes.SetLimitsY(y.lo - pad, y.hi + pad);
        if (pruned.Count > 0)
        {
            double lo = pruned.Min(r => r.AchievedSparsity) * 100, hi = pruned.Max(r => r.AchievedSparsity) * 100;
            double xpad = Math.Max(3, (hi - lo) * 0.1);
            plot.Axes.SetLimitsX(lo - xpad, hi + 2.2 * xpad);
            AddValueLabels(plot, pruned, (y.hi - y.lo + 2 * pad) * LabelPixels / DataAreaPixels);
        }
        plot.Title($"{model} on {trainedOn}: top-1 vs sparsity");
        plot.XLabel("achieved sparsity of the prunable layers (%)");
        plot.YLabel("top-1 accuracy (%)");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    /// <summary>Each point's top-1 to its right; the labels of points at the same target sparsity are spread apart by
    /// at least <paramref name="gap"/> (data units of one label's height), keeping their order.</summary>
    static void AddValueLabels(Plot plot, IReadOnlyList<ReportSummary> points, double gap)
    {
        foreach (var column in points.GroupBy(p => Math.Round(p.TargetSparsity, 6)))
        {
            var sorted = column.OrderBy(p => p.Top1).ToList();
            var ys = sorted.Select(p => p.Top1).ToArray();
            for (int i = 1; i < ys.Length; i++) ys[i] = Math.Max(ys[i], ys[i - 1] + gap);
            // Centre the spread on the points' own centre so labels stay beside their points.
            double shift = (sorted.Average(p => p.Top1) - ys.Average());
            for (int i = 0; i < ys.Length; i++)
            {
                var p = sorted[i];
                var label = plot.Add.Text($"{p.Top1:F1}", p.AchievedSparsity * 100, ys[i] + shift);
                label.LabelFontSize = 13;
                label.LabelFontColor = PlotTheme.ColorOf(p.Method);
                label.LabelAlignment = Alignment.MiddleLeft;
                label.OffsetX = 10;
            }
        }
    }

    static Plot SpeedupPlot(IReadOnlyList<ReportSummary> rows)
    {
        var plot = PlotTheme.NewPlot();
        var models = rows.Select(r => r.Model).Distinct().ToList();
        foreach (var series in rows.GroupBy(r => (r.Model, r.Method, r.TileRows)))
        {
            var points = series.OrderBy(r => r.TargetSparsity).ToList();
            var line = plot.Add.Scatter(points.Select(r => r.TargetSparsity * 100).ToArray(), points.Select(r => r.Speedup!.Value).ToArray());
            string name = (models.Count > 1 ? $"{series.Key.Model} " : "") + SeriesName(series.Key.Method, series.Key.TileRows, false);
            Style(line, name, series.Key.Method, TilePatterns[models.IndexOf(series.Key.Model) % TilePatterns.Length]);
        }
        var one = plot.Add.HorizontalLine(1, 2, Colors.Black, LinePattern.Dashed);
        one.LegendText = "dense (1.0x)";
        plot.Title("Sparse inference speedup vs sparsity");
        plot.XLabel("target sparsity (%)");
        plot.YLabel("speedup over dense (x)");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    /// <summary>The paper's picture: top-1 against the measured speedup, one line per method through its sparsities
    /// (each point labelled with its sparsity), the dense model at 1x. The speedup is over the fastest dense PyTorch
    /// model where the report has that baseline for every point, else over our masked dense model.</summary>
    static Plot TradeOffPlot(string model, string trainedOn, IReadOnlyList<ReportSummary> rows)
    {
        var plot = PlotTheme.NewPlot();
        var pruned = rows.Where(r => !r.IsDense && (r.SpeedupOverBest ?? r.Speedup) is not null).ToList();
        bool overBest = pruned.All(r => r.SpeedupOverBest is not null);
        double X(ReportSummary r) => overBest ? r.SpeedupOverBest!.Value : r.Speedup!.Value;
        var tiles = pruned.Select(r => r.TileRows).Distinct().ToList();
        foreach (var series in pruned.GroupBy(r => (r.Method, r.TileRows)))
        {
            var points = series.OrderBy(r => r.TargetSparsity).ToList();
            var line = plot.Add.Scatter(points.Select(X).ToArray(), points.Select(r => r.Top1).ToArray());
            Style(line, SeriesName(series.Key.Method, series.Key.TileRows, tiles.Count > 1), series.Key.Method, TilePatterns[tiles.IndexOf(series.Key.TileRows) % TilePatterns.Length]);
            foreach (var p in points)
            {
                var label = plot.Add.Text($"{p.TargetSparsity * 100:0.#}%", X(p), p.Top1);
                label.LabelFontSize = 12;
                label.LabelFontColor = PlotTheme.ColorOf(p.Method);
                label.LabelAlignment = Alignment.LowerLeft;
                label.OffsetX = 6;
            }
        }
        // Points whose measured path was over the per-image pass rule on some images: ringed, so the picture shows the
        // speed and says which outputs did not meet the rule (the report's tables give the counts).
        var overRule = pruned.Where(r => r.Rule is { Passed: false }).ToList();
        if (overRule.Count > 0)
        {
            var ring = plot.Add.ScatterPoints(overRule.Select(X).ToArray(), overRule.Select(r => r.Top1).ToArray());
            ring.MarkerShape = MarkerShape.OpenCircle;
            ring.MarkerSize = 22;
            ring.MarkerLineWidth = 2;
            ring.Color = Colors.Black;
            ring.LegendText = "over the per-image rule on some images";
        }
        var dense = rows.FirstOrDefault(r => r.IsDense)?.Top1 ?? rows.Select(r => r.DenseTop1).FirstOrDefault(d => d is not null);
        if (dense is { } d)
        {
            var h = plot.Add.HorizontalLine(d, 2, Colors.Black, LinePattern.Dashed);
            h.LegendText = $"dense ({d:F2}%)";
        }
        var one = plot.Add.VerticalLine(1, 1.5f, Colors.Gray, LinePattern.Dotted);
        one.LegendText = "1x";
        plot.Title($"{model} on {trainedOn}: top-1 vs measured GPU speedup");
        plot.XLabel(overBest ? $"speedup over the fastest dense PyTorch model ({pruned[0].BestDense}) (x)" : "speedup over the masked dense model on the same GPU (x)");
        plot.YLabel("top-1 accuracy (%)");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    static string SeriesName(string method, int? tileRows, bool nameTile) => nameTile && tileRows is { } t ? $"{method} (tile {t})" : method;

    static void Style(ScottPlot.Plottables.Scatter line, string label, string method, LinePattern pattern)
    {
        line.LegendText = label;
        line.Color = PlotTheme.ColorOf(method);
        line.LineWidth = 2.5f;
        line.LinePattern = pattern;
        line.MarkerSize = 10;
        line.MarkerShape = PlotTheme.MarkerOf(method);
    }
}
