namespace Bcbp.Training.Cli;

/// <summary>
/// Parsed command line: <c>--key value</c> options, <c>--flag</c> switches, repeatable <c>--set a.b=c</c>
/// overrides and positional words. Unknown options are reported by the command that reads them.
/// </summary>
public sealed class CliArgs
{
    readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    readonly HashSet<string> _read = new(StringComparer.Ordinal);

    /// <summary>Values of every <c>--set key=value</c>, in order.</summary>
    public List<string> Sets { get; } = new();
    /// <summary>Words that are not options.</summary>
    public List<string> Positional { get; } = new();

    /// <summary>Options that take no value.</summary>
    public static readonly HashSet<string> Flags = new(StringComparer.Ordinal)
    { "resume", "help", "quiet", "no-progress", "fresh", "cpu-only", "dry-run", "sparse-eval", "shrunk" };

    public static CliArgs Parse(IEnumerable<string> argv)
    {
        var a = new CliArgs();
        var list = argv.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var w = list[i];
            if (!w.StartsWith("--")) { a.Positional.Add(w); continue; }
            var key = w[2..];
            string? value = null;
            int eq = key.IndexOf('=');
            if (eq >= 0) { value = key[(eq + 1)..]; key = key[..eq]; }
            else if (!Flags.Contains(key))
            {
                if (i + 1 >= list.Count) throw new ArgumentException($"option --{key} needs a value");
                value = list[++i];
            }
            if (key == "set")
            {
                if (value is null || !value.Contains('='))
                    throw new ArgumentException($"--set expects key=value (for example --set train.epochs=3), got '{value}'");
                a.Sets.Add(value);
            }
            else a._options[key] = value;
        }
        return a;
    }

    public bool Has(string key) { _read.Add(key); return _options.ContainsKey(key); }
    public string? Get(string key) { _read.Add(key); return _options.TryGetValue(key, out var v) ? v : null; }
    public string Get(string key, string fallback) => Get(key) ?? fallback;
    public int GetInt(string key, int fallback)
    {
        var v = Get(key);
        if (v is null) return fallback;
        return int.TryParse(v, out var n) ? n : throw new ArgumentException($"option --{key} expects an integer, got '{v}'");
    }

    /// <summary>Throws when an option was given that no code asked about (a typo would otherwise be ignored).</summary>
    public void ThrowOnUnknown()
    {
        var unknown = _options.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown option(s): {string.Join(", ", unknown.Select(k => "--" + k))}; see bcbp --help");
    }
}
