using System.Text.RegularExpressions;
using Bcbp.Training.Config;

namespace Bcbp.Training.Pruning.Layers;

/// <summary>
/// A module-name pattern of <c>prune.exclude</c> / <c>prune.overrides</c>: a glob matched against the whole dotted
/// name (<c>*</c> = any characters including dots, <c>?</c> = one character), or a regex written <c>re:...</c>
/// (also matched against the whole name). <c>@first</c> / <c>@last</c> are resolved by <see cref="LayerDiscovery"/>.
/// </summary>
public sealed class NamePattern
{
    readonly Regex _regex;

    /// <summary>The pattern as written in the config.</summary>
    public string Text { get; }

    public NamePattern(string text)
    {
        Text = text;
        string body;
        if (text.StartsWith("re:", StringComparison.Ordinal))
        {
            body = text[3..];
            try { _ = new Regex(body); }
            catch (ArgumentException e) { throw new ArgumentException($"prune pattern '{text}' is not a valid regex: {e.Message}"); }
        }
        else body = Glob.ToRegex(text);
        _regex = new Regex("^(?:" + body + ")$", RegexOptions.CultureInvariant);
    }

    /// <summary>True when the whole <paramref name="moduleName"/> matches.</summary>
    public bool Matches(string moduleName) => _regex.IsMatch(moduleName);

    public override string ToString() => Text;
}
