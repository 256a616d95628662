using System.Text.Json;

namespace Bcbp.Training.Config;

/// <summary>
/// The file spelling of an enum value, the rule every typed config value and file follows: snake_case of the member
/// name (<c>PruneMethod.Nm</c> = <c>nm</c>, <c>ScheduleKind.OneShot</c> = <c>one_shot</c>), as
/// <see cref="ConfigBinder"/> spells keys and the JSON outputs write enums.
/// </summary>
public static class ConfigNames
{
    /// <summary>The name of <paramref name="value"/>.</summary>
    public static string Of<T>(T value) where T : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    /// <summary>Every name of <typeparamref name="T"/>, in declaration order.</summary>
    public static IReadOnlyList<string> All<T>() where T : struct, Enum => Enum.GetValues<T>().Select(Of).ToArray();

    /// <summary>The value named <paramref name="name"/> (case-insensitive).</summary>
    public static bool TryParse<T>(string? name, out T value) where T : struct, Enum
    {
        foreach (var v in Enum.GetValues<T>())
            if (string.Equals(Of(v), name, StringComparison.OrdinalIgnoreCase)) { value = v; return true; }
        value = default;
        return false;
    }

    /// <summary>The value named <paramref name="name"/>; an unknown one is an <see cref="ArgumentException"/> naming
    /// <paramref name="key"/> and the accepted names.</summary>
    public static T Parse<T>(string? name, string key) where T : struct, Enum =>
        TryParse(name, out T value) ? value
            : throw new ArgumentException($"{key} '{name}' is unknown; use one of {string.Join(", ", All<T>())}.");
}
