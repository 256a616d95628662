using Bcbp.Models.IO;
using Bcbp.Training.Fitting;
using ScottPlot;

namespace Bcbp.Training.Runs;

/// <summary>learning_curves.png: train and test loss (left axis) and test top-1 (right axis) against epoch, with the
/// epochs of all phases in sequence and a line where fine-tuning starts.</summary>
public static class LearningCurvePlot
{
    public static void Save(string path, IReadOnlyList<EpochMetrics> history, string title)
    {
        if (history.Count == 0) return;
        var plot = new Plot();
        double[] x = Enumerable.Range(1, history.Count).Select(i => (double)i).ToArray();
        var train = plot.Add.Scatter(x, history.Select(m => m.TrainLoss).ToArray());
        train.LegendText = "train loss";
        var test = plot.Add.Scatter(x, history.Select(m => m.TestLoss).ToArray());
        test.LegendText = "test loss";
        var top1 = plot.Add.Scatter(x, history.Select(m => m.TestTop1).ToArray());
        top1.LegendText = "test top-1 (%)";
        top1.Axes.YAxis = plot.Axes.Right;
        int denseEpochs = history.Count(m => m.Phase == TrainingPhase.Dense);
        if (denseEpochs > 0 && denseEpochs < history.Count)
        {
            var line = plot.Add.VerticalLine(denseEpochs + 0.5);
            line.LegendText = "fine-tuning starts";
            line.LinePattern = LinePattern.Dashed;
        }
        plot.Title(title);
        plot.XLabel("epoch");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Axes.Left.Label.Text = "loss";
        plot.Axes.Right.Label.Text = "top-1 (%)";
        plot.ShowLegend(Alignment.MiddleRight);
        AtomicFile.WriteFile(path, tmp => plot.SavePng(tmp, 900, 550));
    }
}
