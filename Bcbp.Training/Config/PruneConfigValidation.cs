namespace Bcbp.Training.Config;

// Range checks of the prune section, in the same style as the other sections (IConfigSection + ConfigErrors).

public sealed partial class PruneConfig : IConfigSection
{
    public static readonly IReadOnlyList<string> Methods = ConfigNames.All<PruneMethod>();
    public static readonly IReadOnlyList<string> Scores = ConfigNames.All<PruneScore>();
    public static readonly IReadOnlyList<string> Scopes = ConfigNames.All<PruneScope>();
    public static readonly IReadOnlyList<string> Remainders = ConfigNames.All<RemainderRule>();

    /// <summary>Validates the section on its own (code that builds a PruneConfig without the loader);
    /// throws <see cref="ConfigException"/> listing every problem.</summary>
    public void Validate()
    {
        var errors = new ConfigErrors();
        Validate("prune", errors);
        if (errors.Any) throw new ConfigException("section 'prune'", errors.Messages);
    }

    /// <inheritdoc/>
    public void Validate(string path, ConfigErrors errors)
    {
        string Key(string k) => ConfigErrors.Join(path, k);
        errors.OneOf(Key("method"), Method, Methods);
        errors.InRange(Key("sparsity"), Sparsity, 0, 1);
        errors.AtLeast(Key("tile_rows"), TileRows, 0); // 0 = chosen for the model
        errors.AtLeast(Key("tile_cols"), TileCols, 0);
        errors.OneOf(Key("remainder"), Remainder, Remainders);
        errors.AtLeast(Key("block_rows"), BlockRows, 1);
        errors.AtLeast(Key("block_cols"), BlockCols, 1);
        errors.OneOf(Key("score"), Score, Scores);
        errors.OneOf(Key("scope"), Scope, Scopes);
        if (Exclude is not null)
            for (int i = 0; i < Exclude.Count; i++)
                if (string.IsNullOrWhiteSpace(Exclude[i]))
                    errors.Add($"{Key("exclude")}[{i}]", "must be a module-name pattern (for example conv1), got an empty value");
        for (int i = 0; i < Overrides.Count; i++)
        {
            var o = Overrides[i];
            if (string.IsNullOrWhiteSpace(o.Pattern))
                errors.Add($"{Key("overrides")}[{i}].pattern", "is empty; give a module-name glob such as 'layer4.*'");
            errors.InRange($"{Key("overrides")}[{i}].sparsity", o.Sparsity, 0, 1);
        }
        errors.AtLeast(Key("finetune_epochs"), FinetuneEpochs, 0);
        if (ConfigNames.TryParse(Method, out PruneMethod method) && method == PruneMethod.Nm) ValidateNm(Key, errors);
        Schedule.Validate(Key("schedule"), errors);
        if (Schedule.Initial > Sparsity)
            errors.Add(Key("schedule.initial"), $"is {Schedule.Initial}, above prune.sparsity ({Sparsity})");
        bool oneShot = ConfigNames.TryParse(Schedule.Kind, out ScheduleKind kind) && kind == ScheduleKind.OneShot;
        string lastKey = oneShot ? "start_epoch" : "end_epoch";
        int last = oneShot ? Schedule.StartEpoch : Schedule.EndEpoch;
        if (last >= FinetuneEpochs)
            errors.Add(Key($"schedule.{lastKey}"), $"is {last}, but must be < prune.finetune_epochs ({FinetuneEpochs}) so the final " +
                       $"sparsity is reached and fine-tuned; lower {lastKey} or raise finetune_epochs");
    }

    void ValidateNm(Func<string, string> key, ConfigErrors errors)
    {
        if (N < 1 || M < 2 || N >= M)
        {
            errors.Add(key("n"), $"prune.n and prune.m must satisfy 1 <= n < m, got {N}:{M}");
            return;
        }
        if (ConfigNames.TryParse(Scope, out PruneScope scope) && scope == PruneScope.Global)
            errors.Add(key("scope"), "global is not supported by method nm (N:M is a per-group rule); set prune.scope to layer");
        double nmSparsity = 1.0 - (double)N / M;
        if (Math.Abs(Sparsity - nmSparsity) > 1e-9)
            errors.Add(key("sparsity"), $"is {Sparsity} but n:m = {N}:{M} means sparsity {nmSparsity}; set prune.sparsity to {nmSparsity} or change n/m");
        for (int i = 0; i < Overrides.Count; i++)
            if (Overrides[i].Sparsity > nmSparsity + 1e-9)
                errors.Add($"{key("overrides")}[{i}].sparsity", $"is {Overrides[i].Sparsity}, more than {N}:{M} allows ({nmSparsity})");
    }
}

public sealed partial class ScheduleConfig : IConfigSection
{
    public static readonly IReadOnlyList<string> Kinds = ConfigNames.All<ScheduleKind>();

    /// <inheritdoc/>
    public void Validate(string path, ConfigErrors errors)
    {
        errors.OneOf(ConfigErrors.Join(path, "kind"), Kind, Kinds);
        errors.InClosedRange(ConfigErrors.Join(path, "initial"), Initial, 0, 1);
        errors.AtLeast(ConfigErrors.Join(path, "start_epoch"), StartEpoch, 0);
        if (EndEpoch < StartEpoch)
            errors.Add(ConfigErrors.Join(path, "end_epoch"), $"must be >= prune.schedule.start_epoch ({StartEpoch}), got {EndEpoch}");
        errors.AtLeast(ConfigErrors.Join(path, "frequency"), Frequency, 1);
    }
}
