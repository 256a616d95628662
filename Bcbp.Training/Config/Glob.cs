using System.Text.RegularExpressions;

namespace Bcbp.Training.Config;

/// <summary>Shell-style name patterns: <c>*</c> any run of characters, <c>?</c> one character, the rest literal.</summary>
public static class Glob
{
    public static bool IsMatch(string name, string pattern) => Regex.IsMatch(name, "^" + ToRegex(pattern) + "$");

    /// <summary>The regular expression (unanchored) that <paramref name="pattern"/> stands for.</summary>
    public static string ToRegex(string pattern) => Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".");
}
