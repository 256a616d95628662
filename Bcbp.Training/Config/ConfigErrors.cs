namespace Bcbp.Training.Config;

/// <summary>
/// Collects every problem found in a config (unknown keys, wrong types, out-of-range values) so they are reported
/// together, each prefixed by its key path in file spelling (<c>prune.schedule.start_epoch</c>).
/// Sections add their range checks through <see cref="IConfigSection.Validate"/> with the helpers below.
/// </summary>
public sealed class ConfigErrors
{
    readonly List<string> _messages = new();

    public IReadOnlyList<string> Messages => _messages;
    public bool Any => _messages.Count > 0;

    /// <summary>Records <c>path: message</c>.</summary>
    public void Add(string path, string message) => _messages.Add(path.Length == 0 ? message : $"{path}: {message}");

    /// <summary>Joins a section path and a key: ("train", "epochs") -> "train.epochs"; ("", "seed") -> "seed".</summary>
    public static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    /// <summary>Requires <paramref name="value"/> &gt;= <paramref name="min"/>.</summary>
    public void AtLeast(string path, double value, double min)
    {
        if (!(value >= min)) Add(path, $"must be >= {Format(min)}, got {Format(value)}");
    }

    /// <summary>Requires <paramref name="value"/> &gt; 0.</summary>
    public void Positive(string path, double value)
    {
        if (!(value > 0)) Add(path, $"must be > 0, got {Format(value)}");
    }

    /// <summary>Requires <paramref name="min"/> &lt;= value &lt; <paramref name="maxExclusive"/> (for example a sparsity in [0, 1)).</summary>
    public void InRange(string path, double value, double min, double maxExclusive)
    {
        if (!(value >= min && value < maxExclusive))
            Add(path, $"must be in [{Format(min)}, {Format(maxExclusive)}), got {Format(value)}");
    }

    /// <summary>Requires <paramref name="min"/> &lt;= value &lt;= <paramref name="max"/>.</summary>
    public void InClosedRange(string path, double value, double min, double max)
    {
        if (!(value >= min && value <= max))
            Add(path, $"must be in [{Format(min)}, {Format(max)}], got {Format(value)}");
    }

    /// <summary>Requires <paramref name="value"/> to be one of <paramref name="allowed"/> (case-sensitive, as in files).</summary>
    public void OneOf(string path, string? value, IReadOnlyCollection<string> allowed)
    {
        if (value is not null && allowed.Contains(value)) return;
        var hint = value is null ? null : KeySuggester.Closest(value, allowed);
        Add(path, $"unknown value '{value}'; expected one of {string.Join(", ", allowed)}" +
                  (hint is null ? "" : $" (did you mean '{hint}'?)"));
    }

    static string Format(double v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A config that failed to load; <see cref="Errors"/> holds every problem, the message lists them.</summary>
public sealed class ConfigException : ArgumentException
{
    public IReadOnlyList<string> Errors { get; }

    public ConfigException(string source, IReadOnlyList<string> errors)
        : base($"config {source} is invalid ({errors.Count} error{(errors.Count == 1 ? "" : "s")}):\n  - " +
               string.Join("\n  - ", errors))
        => Errors = errors;
}
