using System.Text.Json.Nodes;
using Bcbp.Models.IO;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;

namespace Bcbp.Training.Runs;

/// <summary>How far a run folder got.</summary>
public enum RunState
{
    /// <summary>No folder, or a folder without a checkpoint: run from the start.</summary>
    Missing,
    /// <summary>A checkpoint but no results.json: the run was stopped; resume it.</summary>
    Partial,
    /// <summary>results.json exists: the run finished; skip it.</summary>
    Finished,
}

/// <summary>Reads the state of a run folder from the files the runner writes, and decides whether a new run may
/// replace what is there.</summary>
public static class RunFolder
{
    /// <summary>The resolved config a run writes into its folder.</summary>
    public const string ConfigFile = "config.json";

    /// <summary>Files a fresh start keeps: the logs (they append) and the lock.</summary>
    static readonly string[] Kept = { "run.log", "run.jsonl", RunLock.FileName };

    public static RunState StateOf(string runDir)
    {
        if (File.Exists(Path.Combine(runDir, RunResult.FileName))) return RunState.Finished;
        if (Directory.Exists(runDir) && Directory.EnumerateFiles(runDir, "checkpoint*").Any()) return RunState.Partial;
        return RunState.Missing;
    }

    /// <summary>
    /// Refuses to start a fresh run in <paramref name="runDir"/> over a run of another config unless
    /// <paramref name="force"/>: the message names the keys that differ and the three choices.
    /// </summary>
    /// <exception cref="RunFolderConflictException">The folder holds a run of another config.</exception>
    public static void CheckReplaceable(string runDir, ExperimentConfig config, bool force)
    {
        var oldPath = Path.Combine(runDir, ConfigFile);
        if (force || !File.Exists(oldPath)) return;
        var differences = Differences(oldPath, config);
        if (differences.Count == 0) return;
        throw new RunFolderConflictException(
            $"run folder '{runDir}' holds a run of another config ({string.Join("; ", differences.Take(3))}" +
            $"{(differences.Count > 3 ? $"; {differences.Count - 3} more" : "")}); it is not replaced. Choose: --resume to continue that " +
            $"run, another name (--set name={config.Name}_2), or --force to replace it.");
    }

    /// <summary>Clears the files of the run that was in <paramref name="runDir"/> (results, models, metrics, checkpoint,
    /// reports of later commands; the logs stay) and temp files that killed writers left: a fresh start never leaves
    /// one run's results beside another's config. Returns the names removed.</summary>
    public static IReadOnlyList<string> ClearForFreshStart(string runDir)
    {
        var removed = AtomicFile.CleanOrphans(runDir).ToList();
        if (!File.Exists(Path.Combine(runDir, ConfigFile)) && !File.Exists(Path.Combine(runDir, TrainingRun.CheckpointFile))) return removed;
        foreach (var file in Directory.EnumerateFiles(runDir))
        {
            var name = Path.GetFileName(file);
            if (Kept.Contains(name) || name.StartsWith('.')) continue;
            File.Delete(file);
            removed.Add(name);
        }
        return removed;
    }

    /// <summary>"key: old -> new" for every key whose value differs between the config file and <paramref name="config"/>.</summary>
    static List<string> Differences(string oldPath, ExperimentConfig config)
    {
        JsonNode? old;
        try { old = JsonNode.Parse(File.ReadAllText(oldPath)); }
        catch (System.Text.Json.JsonException) { return new List<string> { $"its {ConfigFile} is unreadable" }; }
        var a = Flatten(old);
        var b = Flatten(JsonNode.Parse(ConfigSerializer.ToJson(config)));
        return a.Keys.Union(b.Keys).Order(StringComparer.Ordinal)
            .Where(k => a.GetValueOrDefault(k) != b.GetValueOrDefault(k))
            .Select(k => $"{k}: {a.GetValueOrDefault(k) ?? "(none)"} -> {b.GetValueOrDefault(k) ?? "(none)"}").ToList();
    }

    static Dictionary<string, string?> Flatten(JsonNode? node, string path = "", Dictionary<string, string?>? into = null)
    {
        into ??= new Dictionary<string, string?>(StringComparer.Ordinal);
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o) Flatten(v, path.Length == 0 ? k : $"{path}.{k}", into);
                break;
            default:
                into[path] = node?.ToJsonString();
                break;
        }
        return into;
    }
}

/// <summary>A fresh run would replace a run of another config; the message names the choices
/// (<c>--resume</c>, another name, <c>--force</c>). A usage error (exit code 2).</summary>
public sealed class RunFolderConflictException(string message) : ArgumentException(message);
