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

    /// <summary>The value named <paramref name="name"/> (case-insensitive), by its name or one of its
    /// <see cref="ConfigAliasAttribute"/> aliases.</summary>
    public static bool TryParse<T>(string? name, out T value) where T : struct, Enum
    {
        foreach (var v in Enum.GetValues<T>())
            if (string.Equals(Of(v), name, StringComparison.OrdinalIgnoreCase) ||
                AliasesOf(v).Any(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase))) { value = v; return true; }
        value = default;
        return false;
    }

    /// <summary>The other spellings a file may use for <paramref name="value"/> (<c>true</c> for <c>AmpMode.Bf16</c>).</summary>
    public static IReadOnlyList<string> AliasesOf<T>(T value) where T : struct, Enum =>
        typeof(T).GetField(value.ToString())!.GetCustomAttributes(typeof(ConfigAliasAttribute), false)
                 .Select(a => ((ConfigAliasAttribute)a).Alias).ToArray();

    /// <summary>The accepted spellings of <typeparamref name="T"/> for an error message: "off (or false), bf16 (or true), fp16".</summary>
    public static string Accepted<T>() where T : struct, Enum =>
        string.Join(", ", Enum.GetValues<T>().Select(v =>
            AliasesOf(v) is { Count: > 0 } a ? $"{Of(v)} (or {string.Join(", ", a)})" : Of(v)));

    /// <summary>The value named <paramref name="name"/>; an unknown one is an <see cref="ArgumentException"/> naming
    /// <paramref name="key"/> and the accepted names.</summary>
    public static T Parse<T>(string? name, string key) where T : struct, Enum =>
        TryParse(name, out T value) ? value
            : throw new ArgumentException($"{key} '{name}' is unknown; use one of {string.Join(", ", All<T>())}.");
}

/// <summary>Another file spelling of an enum member, accepted when binding (<c>train.amp: true</c> = bf16); files are
/// written with the member's own name (<see cref="ConfigNames.Of"/>).</summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = true)]
public sealed class ConfigAliasAttribute(string alias) : Attribute
{
    /// <summary>The spelling.</summary>
    public string Alias { get; } = alias;
}
