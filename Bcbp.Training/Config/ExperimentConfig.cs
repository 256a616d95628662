using System.Text.RegularExpressions;

namespace Bcbp.Training.Config;

/// <summary>One experiment: what to train or load, how to prune it, and where results go. Keys are snake_case in
/// files (<c>output_dir</c>) and PascalCase here (<see cref="OutputDir"/>). docs/config.md lists every key.</summary>
public sealed partial class ExperimentConfig : IConfigSection
{
    /// <summary>Run name; the run folder is <c>output_dir/name</c>.</summary>
    public string Name { get; set; } = "experiment";
    public int Seed { get; set; }
    /// <summary>cpu, cuda, cuda:N or auto.</summary>
    public string Device { get; set; } = "cpu";
    public ModelConfig Model { get; set; } = new();
    public DataConfig Data { get; set; } = new();
    public TrainConfig Train { get; set; } = new();
    /// <summary>Null: no pruning (a dense run).</summary>
    public PruneConfig? Prune { get; set; }
    public LogConfig Log { get; set; } = new();
    public string OutputDir { get; set; } = "runs";

    [GeneratedRegex(@"^(cpu|auto|cuda(:\d+)?)$")]
    private static partial Regex DevicePattern();

    /// <inheritdoc/>
    public void Validate(string path, ConfigErrors errors)
    {
        if (string.IsNullOrWhiteSpace(Name) || Name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || Name is "." or "..")
            errors.Add(ConfigErrors.Join(path, "name"), $"must be a non-empty file name (it names the run folder), got '{Name}'");
        if (!DevicePattern().IsMatch(Device ?? ""))
            errors.Add(ConfigErrors.Join(path, "device"), $"expected cpu, cuda, cuda:N or auto, got '{Device}'");
        if (string.IsNullOrWhiteSpace(OutputDir))
            errors.Add(ConfigErrors.Join(path, "output_dir"), "must be a directory path, got an empty value");
        Model.Validate(ConfigErrors.Join(path, "model"), errors);
        Data.Validate(ConfigErrors.Join(path, "data"), errors);
        Train.Validate(ConfigErrors.Join(path, "train"), errors);
        if (Prune is IConfigSection prune) prune.Validate(ConfigErrors.Join(path, "prune"), errors);
        Log.Validate(ConfigErrors.Join(path, "log"), errors);
        ValidateModelFitsData(path, errors);
    }

    /// <summary>The model's class count and input channels must match a dataset whose shape is fixed.</summary>
    void ValidateModelFitsData(string path, ConfigErrors errors)
    {
        if (!DatasetCatalog.TryGet(Data.Dataset, out var info)) return;
        int? classes = info.NumClasses ?? (Data.Dataset == DatasetCatalog.Synthetic ? Data.NumClasses : null);
        int? channels = info.Channels ?? (Data.Dataset == DatasetCatalog.Synthetic ? Data.Channels : null);
        if (classes is { } c && Model.NumClasses != c)
            errors.Add(ConfigErrors.Join(path, "model.num_classes"), $"is {Model.NumClasses} but data.dataset '{Data.Dataset}' has {c} classes");
        if (channels is { } ch && Model.InChannels != ch)
            errors.Add(ConfigErrors.Join(path, "model.in_channels"), $"is {Model.InChannels} but data.dataset '{Data.Dataset}' has {ch}-channel images");
    }
}
