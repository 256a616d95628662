using Bcbp.Models.IO;
using Bcbp.Training.Runs;
using Bcbp.Training.Suites;
namespace Bcbp.Training.Reports;

/// <summary>Copies the current runs of a suite into its results folder (committed to git; only on an explicit
/// <c>--publish</c>): every file of each run folder except model weights and checkpoints, so the report can be
/// regenerated from the results folder alone and each run keeps its provenance (results.json: commit, machine, device,
/// date, config hash; resolved config; logs). A published cell of another config is removed, so the results folder
/// never holds runs of two configs of one cell (git keeps the old one).</summary>
public static class ResultsPublisher
{
    /// <summary>Extensions of files too large or too binary to commit: weights and checkpoints.</summary>
    static readonly string[] Skipped = { ".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".tmp" };
    const long MaxFileBytes = 4 << 20;

    /// <summary>Publishes every current cell of <paramref name="plan"/> into <paramref name="resultsDir"/>/NAME
    /// (replacing what was there); a published folder of a cell that is not current is kept when it holds the cell's
    /// current config, else removed. Returns the cells now current in the results folder.</summary>
    public static IReadOnlyList<string> Publish(IEnumerable<PlannedCell> plan, string resultsDir, Action<string> log)
    {
        var published = new List<string>();
        foreach (var p in plan)
        {
            var to = Path.Combine(resultsDir, p.Cell.Name);
            if (p.IsCurrent)
            {
                if (Directory.Exists(to)) Directory.Delete(to, true);
                CopyRun(p.RunDir, to);
                published.Add(p.Cell.Name);
            }
            else if (Directory.Exists(to))
            {
                if (p.Matches(SuitePlan.ReadInfo(to))) { published.Add(p.Cell.Name); continue; }
                Directory.Delete(to, true);
                log($"removed {to}: it holds a run of another config than the suite's current one (git keeps the old files)");
            }
        }
        return published;
    }

    static void CopyRun(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var info = new FileInfo(file);
            if (Skipped.Contains(info.Extension.ToLowerInvariant()) || info.Name.StartsWith('.') || info.Name.StartsWith("checkpoint")
                || info.Length > MaxFileBytes) continue;
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            AtomicFile.Copy(file, target);
        }
    }
}
