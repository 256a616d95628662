namespace Bcbp.Training.Config;

// Range checks of the prune section, kept beside PruneConfig.cs (owned by the pruning work) as the other half of
// its partial classes. New prune keys get their checks here, in the same style as the other sections.

public sealed partial class PruneConfig : IConfigSection
{
    public static readonly IReadOnlyList<string> Methods = new[] { "bcbp", "filter", "block", "unstructured", "nm" };
    public static readonly IReadOnlyList<string> Scores = new[] { "l1", "l2" };
    public static readonly IReadOnlyList<string> Scopes = new[] { "layer", "global" };

    /// <inheritdoc/>
    public void Validate(string path, ConfigErrors errors)
    {
        errors.OneOf(ConfigErrors.Join(path, "method"), Method, Methods);
        errors.InRange(ConfigErrors.Join(path, "sparsity"), Sparsity, 0, 1);
        errors.AtLeast(ConfigErrors.Join(path, "tile_rows"), TileRows, 1);
        errors.AtLeast(ConfigErrors.Join(path, "tile_cols"), TileCols, 0);
        errors.OneOf(ConfigErrors.Join(path, "score"), Score, Scores);
        errors.OneOf(ConfigErrors.Join(path, "scope"), Scope, Scopes);
        for (int i = 0; i < Exclude.Count; i++)
            if (string.IsNullOrWhiteSpace(Exclude[i]))
                errors.Add($"{ConfigErrors.Join(path, "exclude")}[{i}]", "must be a module name (for example conv1), got an empty value");
        errors.AtLeast(ConfigErrors.Join(path, "finetune_epochs"), FinetuneEpochs, 0);
        Schedule.Validate(ConfigErrors.Join(path, "schedule"), errors);
        if (Schedule.Initial > Sparsity)
            errors.Add(ConfigErrors.Join(path, "schedule.initial"), $"is {Schedule.Initial}, above prune.sparsity ({Sparsity})");
    }
}

public sealed partial class ScheduleConfig : IConfigSection
{
    public static readonly IReadOnlyList<string> Kinds = new[] { "cubic", "linear", "one_shot" };

    /// <inheritdoc/>
    public void Validate(string path, ConfigErrors errors)
    {
        errors.OneOf(ConfigErrors.Join(path, "kind"), Kind, Kinds);
        errors.InRange(ConfigErrors.Join(path, "initial"), Initial, 0, 1);
        errors.AtLeast(ConfigErrors.Join(path, "start_epoch"), StartEpoch, 0);
        if (EndEpoch < StartEpoch)
            errors.Add(ConfigErrors.Join(path, "end_epoch"), $"must be >= prune.schedule.start_epoch ({StartEpoch}), got {EndEpoch}");
        errors.AtLeast(ConfigErrors.Join(path, "frequency"), Frequency, 1);
    }
}
