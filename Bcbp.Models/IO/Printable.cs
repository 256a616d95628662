using System.Text;

namespace Bcbp.Models.IO;

/// <summary>Names from a file as they appear in error messages: control characters escaped (a hostile name must not
/// split the one-line error or forge a second line) and long names cut.</summary>
public static class Printable
{
    /// <summary><paramref name="name"/> with control characters as \n, \r, \t or \uXXXX, cut to <paramref name="max"/> characters.</summary>
    public static string Of(string name, int max = 120)
    {
        var sb = new StringBuilder(Math.Min(name.Length, max) + 8);
        foreach (var c in name.Length > max ? name[..max] : name)
            sb.Append(c switch
            {
                '\n' => "\\n", '\r' => "\\r", '\t' => "\\t",
                _ when char.IsControl(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        return name.Length > max ? sb.Append("...").ToString() : sb.ToString();
    }
}
