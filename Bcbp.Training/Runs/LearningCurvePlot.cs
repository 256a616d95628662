using Bcbp.Training.Fitting;
using Bcbp.Training.Plots;
using ScottPlot;

namespace Bcbp.Training.Runs;

/// <summary>learning_curves.png (+ .svg): train and test loss (left axis, lower half) and test top-1 and the sparsity
/// of the prunable layers (right axis, %, upper half) against epochs completed, all phases in sequence, with the
/// sparsity ramp drawn at every mask update and a line where fine-tuning starts; the legend sits outside the data.</summary>
public static class LearningCurvePlot
{
    public static IReadOnlyList<string> Save(string path, IReadOnlyList<EpochMetrics> history, string title)
    {
        if (history.Count == 0) return Array.Empty<string>();
        var plot = PlotTheme.NewPlot();
        double[] x = Enumerable.Range(1, history.Count).Select(i => (double)i).ToArray();
        int denseEpochs = history.Count(m => m.Phase == TrainingPhase.Dense);

        var trainLoss = Curve(plot, x, history.Select(m => m.TrainLoss).ToArray(), "train loss", Color.FromHex("#7f7f7f"), LinePattern.Dashed);
        var testLoss = Curve(plot, x, history.Select(m => m.TestLoss).ToArray(), "test loss", Color.FromHex("#000000"), LinePattern.Solid);
        var top1 = Curve(plot, x, history.Select(m => m.TestTop1).ToArray(), "test top-1 (%)", Color.FromHex("#1f77b4"), LinePattern.Solid);
        top1.Axes.YAxis = plot.Axes.Right;

        var ramp = SparsityRamp(history, denseEpochs);
        if (ramp.Count > 0)
        {
            var sparsity = plot.Add.Scatter(ramp.Select(p => p.X).ToArray(), ramp.Select(p => p.Y).ToArray());
            sparsity.LegendText = "sparsity (%)";
            sparsity.Color = Color.FromHex("#d62728");
            sparsity.LineWidth = 2;
            sparsity.MarkerSize = 0;
            sparsity.ConnectStyle = ConnectStyle.StepHorizontal; // masks hold between updates
            sparsity.Axes.YAxis = plot.Axes.Right;
        }
        if (denseEpochs > 0 && denseEpochs < history.Count)
        {
            var line = plot.Add.VerticalLine(denseEpochs);
            line.LegendText = "fine-tuning starts";
            line.LinePattern = LinePattern.Dotted;
            line.Color = Colors.Gray;
        }

        // Losses in the lower half, percentages (0-100) in the upper half, so the curves of the two axes do not cross;
        // each axis has ticks only over its own half.
        double maxLoss = Math.Max(history.Max(m => Math.Max(m.TrainLoss, m.TestLoss)), 1e-6);
        plot.Axes.SetLimitsY(0, maxLoss * 2.15, plot.Axes.Left);
        double step = NiceStep(maxLoss / 4);
        plot.Axes.Left.TickGenerator = Ticks(0, Math.Ceiling(maxLoss / step) * step, step, "0.##");
        plot.Axes.SetLimitsY(-115, 105, plot.Axes.Right);
        plot.Axes.Right.TickGenerator = Ticks(0, 100, 20, "0");
        plot.Axes.SetLimitsX(0, history.Count + 0.2);

        plot.Title(title);
        plot.XLabel("epochs completed (dense, then fine-tuning)");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Axes.Left.Label.Text = "loss";
        plot.Axes.Right.Label.Text = "top-1, sparsity (%)";
        plot.ShowLegend(Edge.Right);
        return PlotTheme.Save(plot, path, 1000, 520);
    }

    static ScottPlot.TickGenerators.NumericManual Ticks(double from, double to, double step, string format)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (double v = from; v <= to + step * 1e-6; v += step)
            ticks.AddMajor(v, v.ToString(format, System.Globalization.CultureInfo.InvariantCulture));
        return ticks;
    }

    /// <summary>1, 2 or 5 times a power of ten, at least <paramref name="raw"/>.</summary>
    static double NiceStep(double raw)
    {
        double p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        return new[] { 1.0, 2, 5, 10 }.Select(f => f * p).First(v => v >= raw * 0.999);
    }

    static ScottPlot.Plottables.Scatter Curve(Plot plot, double[] x, double[] y, string label, Color color, LinePattern pattern)
    {
        var s = plot.Add.Scatter(x, y);
        s.LegendText = label;
        s.Color = color;
        s.LineWidth = 2;
        s.LinePattern = pattern;
        s.MarkerSize = 7;
        return s;
    }

    /// <summary>Sparsity (%) against epochs completed: 0 at the start of fine-tuning, then after each mask update
    /// (at its step, in epochs), then at each fine-tuning epoch's end.</summary>
    static List<(double X, double Y)> SparsityRamp(IReadOnlyList<EpochMetrics> history, int denseEpochs)
    {
        var points = new List<(double X, double Y)>();
        var finetune = history.Where(m => m.Phase == TrainingPhase.Finetune && m.Sparsity is not null).ToList();
        if (finetune.Count == 0) return points;
        points.Add((denseEpochs, 0));
        for (int e = 0; e < finetune.Count; e++)
        {
            foreach (var u in finetune[e].MaskUpdates ?? Array.Empty<SparsityUpdate>())
                points.Add((denseEpochs + u.Epoch, u.Sparsity * 100));
            points.Add((denseEpochs + e + 1, finetune[e].Sparsity!.Value * 100));
        }
        return points;
    }
}
