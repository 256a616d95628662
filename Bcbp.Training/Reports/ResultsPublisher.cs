using Bcbp.Models.IO;
using Bcbp.Training.Runs;
namespace Bcbp.Training.Reports;

/// <summary>Copies the finished runs of a suite into its results folder (committed to git): every file of each run
/// folder except model weights and checkpoints, so the report can be regenerated from the results folder alone and
/// each run keeps its provenance (results.json: commit, machine, device, date, config hash; resolved config; logs).</summary>
public static class ResultsPublisher
{
    /// <summary>Extensions of files too large or too binary to commit: weights and checkpoints.</summary>
    static readonly string[] Skipped = { ".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".tmp" };
    const long MaxFileBytes = 4 << 20;

    /// <summary>Copies each finished run folder under <paramref name="runsDir"/> to <paramref name="resultsDir"/>/NAME;
    /// returns the runs copied.</summary>
    public static IReadOnlyList<string> Publish(string runsDir, string resultsDir, IEnumerable<string> cellNames)
    {
        var copied = new List<string>();
        foreach (var name in cellNames)
        {
            var from = Path.Combine(runsDir, name);
            if (RunFolder.StateOf(from) != RunState.Finished) continue;
            var to = Path.Combine(resultsDir, name);
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
            copied.Add(name);
        }
        return copied;
    }
}
