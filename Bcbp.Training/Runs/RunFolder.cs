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

/// <summary>Reads the state of a run folder from the files the runner writes.</summary>
public static class RunFolder
{
    public static RunState StateOf(string runDir)
    {
        if (File.Exists(Path.Combine(runDir, RunResult.FileName))) return RunState.Finished;
        if (Directory.Exists(runDir) && Directory.EnumerateFiles(runDir, "checkpoint*").Any()) return RunState.Partial;
        return RunState.Missing;
    }
}
