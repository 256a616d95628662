using Bcbp.Training.Config;
using Bcbp.Models.IO;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Bcbp.Training.Fitting;

namespace Bcbp.Training.Runs;

/// <summary>Writes the per-epoch history as metrics.json (the source, with every mask update's step and sparsity) and
/// metrics.csv (a view: per epoch, the sparsity at its end and how many mask updates it had), atomically.</summary>
public static class MetricsWriter
{
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    public static readonly string[] CsvColumns =
        { "phase", "epoch", "lr", "train_loss", "train_top1", "test_loss", "test_top1", "test_top5", "images_per_second", "seconds", "sparsity", "mask_updates" };

    public static void Write(string runDir, IReadOnlyList<EpochMetrics> history)
    {
        AtomicFile.WriteAllText(Path.Combine(runDir, "metrics.json"), JsonSerializer.Serialize(history, Json) + "\n");
        AtomicFile.WriteAllText(Path.Combine(runDir, "metrics.csv"), ToCsv(history));
    }

    public static string ToCsv(IEnumerable<EpochMetrics> history)
    {
        var sb = new StringBuilder().AppendLine(string.Join(',', CsvColumns));
        foreach (var m in history)
            sb.AppendLine(string.Join(',', ConfigNames.Of(m.Phase), Num(m.Epoch), Num(m.Lr), Num(m.TrainLoss), Num(m.TrainTop1), Num(m.TestLoss),
                Num(m.TestTop1), Num(m.TestTop5), Num(m.ImagesPerSecond), Num(m.Seconds),
                m.Sparsity is { } sp ? Num(sp) : "", m.MaskUpdates?.Count.ToString(CultureInfo.InvariantCulture) ?? ""));
        return sb.ToString();
    }

    static string Num(double v) => v.ToString("G9", CultureInfo.InvariantCulture);
}
