namespace Bcbp.Training.Config;

/// <summary>
/// Finds a config file from what the user typed: an existing path; else NAME in the base directory; else in its
/// <c>configs/</c>; else in <c>configs/</c> of each parent directory (so <c>--config resnet50_bcbp.json</c> run
/// inside Bcbp.Training finds ../configs/resnet50_bcbp.json). A name without extension also tries .json, .yaml, .yml.
/// </summary>
public static class ConfigResolver
{
    static readonly string[] Extensions = { ".json", ".yaml", ".yml" };

    /// <summary>The full path of the config, or a <see cref="FileNotFoundException"/> that lists every place tried.</summary>
    public static string Resolve(string pathOrName, string baseDirectory)
    {
        if (string.IsNullOrWhiteSpace(pathOrName)) throw new ArgumentException("--config needs a file name or path");
        var tried = new List<string>();
        foreach (var candidate in Candidates(pathOrName, Path.GetFullPath(baseDirectory)))
        {
            if (tried.Contains(candidate)) continue;
            tried.Add(candidate);
            if (File.Exists(candidate)) return candidate;
            if (tried.Count == 1 && Directory.Exists(candidate))
            {
                var inside = Directory.EnumerateFiles(candidate).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                    .Select(Path.GetFileName).Order().Take(5).ToList();
                throw new ArgumentException($"config '{pathOrName}' is a folder ({candidate}), not a file; pass one of its config files" +
                    (inside.Count > 0 ? $" ({string.Join(", ", inside)})" : " (it holds no .json/.yaml file)") + ".");
            }
        }
        throw new FileNotFoundException(
            $"config '{pathOrName}' not found. Tried:\n  " + string.Join("\n  ", tried) +
            "\nFix: pass a path to an existing .json/.yaml file, or put it in configs/ of the working directory or a parent.",
            pathOrName);
    }

    static IEnumerable<string> Candidates(string name, string baseDir)
    {
        var names = Path.HasExtension(name) ? new[] { name } : new[] { name }.Concat(Extensions.Select(e => name + e)).ToArray();
        foreach (var n in names) yield return Path.GetFullPath(n, baseDir);
        if (Path.IsPathRooted(name)) yield break;
        foreach (var n in names) yield return Path.GetFullPath(Path.Combine("configs", n), baseDir);
        for (var dir = Directory.GetParent(baseDir); dir is not null; dir = dir.Parent)
            foreach (var n in names) yield return Path.GetFullPath(Path.Combine(dir.FullName, "configs", n));
    }
}
