using Bcbp.Training.Config;


namespace Bcbp.Training.Runs;

/// <summary>
/// A run folder (<c>output_dir/name/</c>, docs/training.md) read back: its resolved config, its final model file and,
/// when the run finished, its results.json.
/// </summary>
/// <param name="Dir">The folder, as a full path.</param>
/// <param name="Config">config.json with any <c>--set</c> overrides applied (e.g. data.root on another machine).</param>
/// <param name="ModelFile">Full path of the final state dict (results.json's model_file, else model.safetensors, else model.pt).</param>
/// <param name="Result">results.json, or null when the run wrote none.</param>
public sealed record SavedRun(string Dir, ExperimentConfig Config, string ModelFile, RunResult? Result)
{
    /// <summary>Reads <paramref name="dir"/>; a missing folder, config or model is reported with the fix.</summary>
    public static SavedRun Open(string dir, IEnumerable<string>? overrides = null)
    {
        string full = Path.GetFullPath(dir);
        if (!Directory.Exists(full))
            throw new DirectoryNotFoundException($"run folder '{dir}' not found; pass --run with the output_dir/NAME folder of a run written by bcbp train (for example runs/quick)");
        string configPath = Path.Combine(full, "config.json");
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"'{dir}' is not a run folder: it has no config.json (bcbp train writes output_dir/NAME/config.json)", configPath);
        var config = ConfigLoader.Load(configPath, overrides);
        string resultsPath = Path.Combine(full, RunResult.FileName);
        var result = File.Exists(resultsPath) ? RunResult.Read(resultsPath) : null;
        var candidates = new[] { result?.ModelFile, "model.safetensors", "model.pt" };
        string model = candidates.OfType<string>().Select(f => Path.Combine(full, f)).FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                $"run folder '{dir}' has no model.safetensors or model.pt: the run has not finished. " +
                $"Finish it with: bcbp train --config {configPath} --resume", Path.Combine(full, "model.safetensors"));
        return new SavedRun(full, config, model, result);
    }
}
