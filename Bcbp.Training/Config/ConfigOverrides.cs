namespace Bcbp.Training.Config;

/// <summary>
/// Applies command-line overrides (<c>--set train.epochs=3</c>) to the flat key/value view of a configuration
/// (keys joined by ':' as Microsoft.Extensions.Configuration does). Keys use the file spelling with dots; values are
/// JSON-ish: numbers, true/false, null, "quoted strings", plain strings, and lists like <c>[conv1,fc]</c>.
/// </summary>
public static class ConfigOverrides
{
    /// <summary>Applies every <c>key=value</c> in order (a later one wins) to <paramref name="data"/>.</summary>
    public static void Apply(IDictionary<string, string?> data, IEnumerable<string> overrides)
    {
        foreach (var o in overrides)
        {
            int eq = o.IndexOf('=');
            if (eq <= 0)
                throw new ArgumentException($"--set expects key=value (for example --set train.epochs=3), got '{o}'");
            string key = o[..eq].Trim().Replace('.', ':');
            if (key.Split(':').Any(string.IsNullOrWhiteSpace))
                throw new ArgumentException($"--set key '{o[..eq]}' has an empty part; write it like train.epochs");
            Set(data, key, ParseValue(o[(eq + 1)..]));
        }
    }

    /// <summary>A value as a list of items (a list value) or a single scalar (null for null).</summary>
    public static (string? Scalar, List<string>? List) ParseValue(string text)
    {
        var t = text.Trim();
        if (t is "null" or "~") return (null, null);
        if (t.Length >= 2 && t[0] == '[' && t[^1] == ']')
        {
            var inner = t[1..^1].Trim();
            var items = inner.Length == 0 ? new List<string>() : inner.Split(',').Select(s => Unquote(s.Trim())).ToList();
            return (null, items);
        }
        return (Unquote(t), null);
    }

    static string Unquote(string s) =>
        s.Length >= 2 && (s[0] == '"' && s[^1] == '"' || s[0] == '\'' && s[^1] == '\'') ? s[1..^1] : s;

    static void Set(IDictionary<string, string?> data, string key, (string? Scalar, List<string>? List) value)
    {
        // The new value replaces the old one and everything below it (a list replaces a list, null drops a section).
        foreach (var k in data.Keys.Where(k => k.Equals(key, StringComparison.OrdinalIgnoreCase) ||
                                               k.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase)).ToList())
            data.Remove(k);
        // Parents that were null or scalars become sections.
        var parts = key.Split(':');
        for (int i = 1; i < parts.Length; i++)
        {
            var parent = string.Join(':', parts.Take(i));
            foreach (var k in data.Keys.Where(k => k.Equals(parent, StringComparison.OrdinalIgnoreCase)).ToList()) data[k] = null;
        }
        if (value.List is { } list)
        {
            if (list.Count == 0) data[key] = "";
            for (int i = 0; i < list.Count; i++) data[$"{key}:{i}"] = list[i];
        }
        else data[key] = value.Scalar; // null stays null, as the JSON provider writes null
    }
}
